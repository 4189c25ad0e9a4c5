"""A tenant's inference config: the typed schema behind ``Tenant.inference_config``.

Raw JSON from the API, the admin or the database is parsed here, once, into an
``InferenceConfig``; the rest of the code reads attributes, never raw dicts. Errors name
the field (``provider_models.groq``) so API clients and admin forms can show them in place.

Every string a parsed config holds is a registry provider name or a printable model name:
no NULs, control characters or lone surrogates reach the database or a page.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from llm_routing import providers

DEFAULT_QUOTA_THRESHOLD = 0.8
MAX_MODEL_NAME_LENGTH = 200

_TOP_LEVEL_KEYS = {
    "preferred_provider",
    "auto_failover",
    "provider_models",
    "failover_order",
    "daily_quotas",
    "quota_threshold",
}
_QUOTA_KEYS = {"requests", "tokens"}


class InferenceConfigError(ValueError):
    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass(frozen=True)
class Quota:
    requests: int | None = None
    tokens: int | None = None


@dataclass(frozen=True)
class InferenceConfig:
    preferred_provider: str
    auto_failover: bool
    provider_models: dict[str, str]
    failover_order: tuple[str, ...] = ()
    daily_quotas: dict[str, Quota] = field(default_factory=dict)
    quota_threshold: float = DEFAULT_QUOTA_THRESHOLD

    def model_for(self, provider: str) -> str | None:
        return self.provider_models.get(provider)

    def candidate_order(self) -> list[str]:
        """Preferred provider first, then the failover order, then every other provider."""
        order = [self.preferred_provider, *self.failover_order, *providers.provider_names()]
        return list(dict.fromkeys(order))

    def daily_quota(self, provider: str) -> Quota:
        """The tenant's quota for ``provider``, falling back to the provider's default."""
        default = providers.get_provider(provider).default_daily_quota
        own = self.daily_quotas.get(provider)
        if own is None:
            return Quota(default.requests, default.tokens)
        return own

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "preferred_provider": self.preferred_provider,
            "auto_failover": self.auto_failover,
            "provider_models": dict(self.provider_models),
            "failover_order": list(self.failover_order),
            "daily_quotas": {
                p: {"requests": q.requests, "tokens": q.tokens}
                for p, q in self.daily_quotas.items()
            },
            "quota_threshold": self.quota_threshold,
        }
        return data


def default_config_json() -> dict[str, Any]:
    return {
        "preferred_provider": "groq",
        "auto_failover": True,
        "provider_models": {
            "groq": "llama-3.3-70b-versatile",
            "openrouter": "deepseek/deepseek-r1",
            "llm7": "gpt-4o-mini",
        },
    }


def _provider_name_error(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be a provider name (a string)"
    if not providers.is_known(value):
        return f"unknown provider {value[:40]!r}; known: {', '.join(providers.provider_names())}"
    return None


def _positive_int_or_none(value: object) -> bool:
    return value is None or (type(value) is int and 0 < value <= 10**12)


def parse(data: object) -> InferenceConfig:
    """Validate a complete config document. Raises InferenceConfigError naming each field."""
    if not isinstance(data, dict):
        raise InferenceConfigError({"": "must be a JSON object"})
    errors: dict[str, str] = {}
    for key in data:
        if key not in _TOP_LEVEL_KEYS:
            errors[str(key)] = "unknown field"

    preferred = data.get("preferred_provider")
    if preferred is None:
        errors["preferred_provider"] = "is required"
    elif problem := _provider_name_error(preferred):
        errors["preferred_provider"] = problem

    auto_failover = data.get("auto_failover", True)
    if type(auto_failover) is not bool:
        errors["auto_failover"] = "must be true or false"

    models_raw = data.get("provider_models", {})
    provider_models: dict[str, str] = {}
    if not isinstance(models_raw, dict):
        errors["provider_models"] = "must be an object of provider -> model name"
    else:
        for provider, model in models_raw.items():
            path = f"provider_models.{provider}"
            if problem := _provider_name_error(provider):
                errors[path] = problem
            elif not isinstance(model, str) or not model.strip():
                errors[path] = "must be a non-empty model name"
            elif len(model) > MAX_MODEL_NAME_LENGTH or not model.isprintable():
                # isprintable() is False for NULs and other control characters, lone
                # surrogates (which PostgreSQL cannot store and no page can encode) and
                # separators other than the space.
                errors[path] = f"must be at most {MAX_MODEL_NAME_LENGTH} printable characters"
            else:
                provider_models[provider] = model.strip()
    if "preferred_provider" not in errors and "provider_models" not in errors:
        if preferred not in provider_models and f"provider_models.{preferred}" not in errors:
            errors["provider_models"] = f"the preferred provider {preferred!r} has no model"

    order_raw = data.get("failover_order", [])
    failover_order: list[str] = []
    if not isinstance(order_raw, list):
        errors["failover_order"] = "must be a list of provider names"
    else:
        for index, provider in enumerate(order_raw):
            if problem := _provider_name_error(provider):
                errors[f"failover_order.{index}"] = problem
            elif provider in failover_order:
                errors[f"failover_order.{index}"] = f"{provider!r} is listed twice"
            else:
                failover_order.append(provider)

    quotas_raw = data.get("daily_quotas", {})
    daily_quotas: dict[str, Quota] = {}
    if not isinstance(quotas_raw, dict):
        errors["daily_quotas"] = "must be an object of provider -> {requests, tokens}"
    else:
        for provider, quota in quotas_raw.items():
            path = f"daily_quotas.{provider}"
            if problem := _provider_name_error(provider):
                errors[path] = problem
            elif not isinstance(quota, dict):
                errors[path] = "must be an object with 'requests' and/or 'tokens'"
            else:
                bad = [k for k in quota if k not in _QUOTA_KEYS]
                if bad:
                    errors[f"{path}.{bad[0]}"] = "unknown field"
                for key in _QUOTA_KEYS & set(quota):
                    if not _positive_int_or_none(quota[key]):
                        errors[f"{path}.{key}"] = "must be a positive whole number or null"
                if not any(k.startswith(path) for k in errors):
                    daily_quotas[provider] = Quota(quota.get("requests"), quota.get("tokens"))

    threshold = data.get("quota_threshold", DEFAULT_QUOTA_THRESHOLD)
    if type(threshold) not in (int, float) or not 0.05 <= threshold <= 1.0:
        errors["quota_threshold"] = "must be a number from 0.05 to 1.0"

    if errors:
        raise InferenceConfigError(errors)
    return InferenceConfig(
        preferred_provider=preferred,
        auto_failover=auto_failover,
        provider_models=provider_models,
        failover_order=tuple(failover_order),
        daily_quotas=daily_quotas,
        quota_threshold=float(threshold),
    )


def merge(current: dict[str, Any], patch: object) -> dict[str, Any]:
    """A partial update: top-level fields replace, the per-provider maps merge by provider.

    In ``provider_models`` and ``daily_quotas`` a provider set to null is removed.
    The result still has to go through ``parse``.
    """
    if not isinstance(patch, dict):
        raise InferenceConfigError({"": "must be a JSON object"})
    merged = copy.deepcopy(current)
    errors: dict[str, str] = {}
    for key, value in patch.items():
        if key in ("provider_models", "daily_quotas") and isinstance(value, dict):
            target = merged.get(key)
            target = dict(target) if isinstance(target, dict) else {}
            for provider, item in value.items():
                if item is not None:
                    target[provider] = item
                elif problem := _provider_name_error(provider):
                    # Removing an unknown provider must not pass silently as a no-op.
                    errors[f"{key}.{provider}"] = problem
                else:
                    target.pop(provider, None)
            merged[key] = target
        else:
            merged[key] = value
    if errors:
        raise InferenceConfigError(errors)
    return merged


def load(stored: object) -> InferenceConfig:
    """The config as stored on a tenant, falling back to defaults for anything unreadable."""
    try:
        return parse(stored)
    except InferenceConfigError:
        pass
    try:
        return parse(merge(default_config_json(), stored if isinstance(stored, dict) else {}))
    except InferenceConfigError:
        return parse(default_config_json())
