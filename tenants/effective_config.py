"""The inference config routing will use, with every default filled in and named.

``GET``/``PUT inference-config`` answer with it: each provider's model and daily quota
(the tenant's own, else the provider's default), the full failover order (the tenant's
list, then the other providers in registry order, as routing tries them), and
``defaults``: the paths whose value is a default rather than the tenant's own choice
(``provider_models.<p>``, ``daily_quotas.<p>``, ``failover_order``).

Sent back in a ``PUT``, ``defaults`` is not stored: a value at one of its paths that still
equals the default is left out of the update, so a GET document can be sent back as it is
and changes nothing. A value that was changed is a choice, and is saved.
"""

from __future__ import annotations

import copy
from typing import Any

from llm_routing import providers
from tenants.inference_config import InferenceConfig, InferenceConfigError

_PER_PROVIDER = ("provider_models", "daily_quotas")


def effective_json(config: InferenceConfig) -> dict[str, Any]:
    names = providers.provider_names()
    defaults: list[str] = []
    models, quotas = {}, {}
    for name in names:
        own_model = config.model_for(name)
        models[name] = own_model or providers.get_provider(name).default_model
        if own_model is None:
            defaults.append(f"provider_models.{name}")
    for name in names:
        quota = config.daily_quota(name)
        quotas[name] = {"requests": quota.requests, "tokens": quota.tokens}
        if name not in config.daily_quotas:
            defaults.append(f"daily_quotas.{name}")
    if not config.failover_order:
        defaults.append("failover_order")
    return {
        "preferred_provider": config.preferred_provider,
        "auto_failover": config.auto_failover,
        "provider_models": models,
        "failover_order": config.candidate_order()[1:],
        "daily_quotas": quotas,
        "quota_threshold": config.quota_threshold,
        "defaults": sorted(defaults),
    }


def _path_error(path: object) -> str | None:
    if path == "failover_order":
        return None
    top, _, name = path.partition(".") if isinstance(path, str) else ("", "", "")
    if top in _PER_PROVIDER and providers.is_known(name):
        return None
    return "not a path of a default (provider_models.<p>, daily_quotas.<p>, failover_order)"


def without_defaults(patch: Any, current: InferenceConfig) -> Any:
    """``patch`` without its ``defaults`` list and the unchanged default values it names.

    Raises InferenceConfigError for a ``defaults`` that is not a list of such paths.
    """
    if not isinstance(patch, dict) or "defaults" not in patch:
        return patch
    patch = copy.deepcopy(patch)
    paths = patch.pop("defaults")
    if not isinstance(paths, list):
        raise InferenceConfigError({"defaults": "must be a list of paths"})
    errors = {f"defaults.{i}": e for i, p in enumerate(paths) if (e := _path_error(p))}
    if errors:
        raise InferenceConfigError(errors)
    effective = effective_json(current)
    for path in paths:
        if path == "failover_order":
            if patch.get(path) == effective[path]:
                del patch[path]
            continue
        top, _, name = path.partition(".")
        section = patch.get(top)
        if isinstance(section, dict) and name in section and section[name] == effective[top][name]:
            del section[name]
    return patch
