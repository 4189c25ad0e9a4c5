"""The provider registry: which LLM providers exist and what is fixed about each.

A leaf module: it imports no other app of the project, so ``tenants`` can use it to
validate key formats and provider names without an import cycle. Base URLs come from
settings (overridable from the environment), never from tenant input. Operators add other
OpenAI-compatible providers through ``settings.LLM_EXTRA_PROVIDERS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver


@dataclass(frozen=True)
class DailyQuota:
    """A provider's default daily allowance for one key; None means no known limit."""

    requests: int | None = None
    tokens: int | None = None


@dataclass(frozen=True)
class Provider:
    name: str
    label: str
    base_url_setting: str | None
    key_pattern: re.Pattern[str]
    key_hint: str
    default_model: str
    # Endpoints, relative to the base URL.
    chat_path: str = "/chat/completions"
    models_path: str = "/models"
    models_need_key: bool = True
    # A cheap endpoint that tells whether a key is good (None: use the models list).
    key_check_path: str | None = None
    default_daily_quota: DailyQuota = field(default_factory=DailyQuota)
    # Which rate-limit header family the provider sends: "groq", "openrouter" or None.
    ratelimit_style: str | None = None
    # Providers that report their own cost in usage.cost.
    reports_cost: bool = False
    static_base_url: str | None = None

    @property
    def base_url(self) -> str:
        if self.base_url_setting:
            return getattr(settings, self.base_url_setting).rstrip("/")
        return (self.static_base_url or "").rstrip("/")

    def stream_timeouts(self) -> tuple[float, float]:
        """(time to the first content, longest silence once asked) for streams, in seconds:
        ``LLM_STREAM_TIMEOUTS[name]`` where set, else the global defaults."""
        own = (getattr(settings, "LLM_STREAM_TIMEOUTS", {}) or {}).get(self.name) or {}
        return (
            float(own.get("first_token", settings.LLM_STREAM_FIRST_TOKEN_TIMEOUT)),
            float(own.get("gap", settings.LLM_STREAM_GAP_TIMEOUT)),
        )

    def key_problem(self, key: object) -> str | None:
        """Why ``key`` cannot be this provider's key (None when it can). Never quotes it.

        The one check of a key's form, for every provider and every path (save, test,
        use): a key travels in an HTTP header, so whatever the provider's pattern says,
        only visible ASCII is allowed (no spaces, no control or non-ASCII characters such
        as a no-break space pasted with the key).
        """
        if not isinstance(key, str):
            return "must be a string"
        if not _HEADER_SAFE.fullmatch(key):
            return (
                "contains a character an HTTP header cannot carry "
                "(only visible ASCII: no spaces, control or non-ASCII characters)"
            )
        if not self.key_pattern.fullmatch(key):
            return f"expected {self.key_hint}"
        return None

    def key_is_well_formed(self, key: object) -> bool:
        return self.key_problem(key) is None


# What an Authorization header value can carry: visible ASCII, nothing else.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


_BUILTIN = (
    Provider(
        name="groq",
        label="Groq",
        base_url_setting="GROQ_BASE_URL",
        key_pattern=re.compile(r"gsk_[A-Za-z0-9]{52}"),
        key_hint="gsk_ followed by 52 letters and digits",
        default_model="llama-3.3-70b-versatile",
        default_daily_quota=DailyQuota(requests=14_400, tokens=None),
        ratelimit_style="groq",
    ),
    Provider(
        name="openrouter",
        label="OpenRouter",
        base_url_setting="OPENROUTER_BASE_URL",
        key_pattern=re.compile(r"sk-or-v1-[0-9a-f]{64}"),
        key_hint="sk-or-v1- followed by 64 hex characters",
        default_model="deepseek/deepseek-r1",
        models_need_key=False,
        key_check_path="/key",
        default_daily_quota=DailyQuota(requests=1_000, tokens=None),
        ratelimit_style="openrouter",
        reports_cost=True,
    ),
    Provider(
        name="llm7",
        label="LLM7",
        base_url_setting="LLM7_BASE_URL",
        # LLM7 publishes no key format; its tokens are opaque printable strings.
        key_pattern=re.compile(r"[A-Za-z0-9._\-+/=]{16,512}"),
        key_hint="16 to 512 letters, digits or . _ - + / =",
        default_model="gpt-4o-mini",
        models_need_key=False,
        default_daily_quota=DailyQuota(requests=2_400, tokens=None),
    ),
)


def _extra_provider(spec: dict) -> Provider:
    name = str(spec["name"])
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,31}", name):
        raise ValueError(f"LLM_EXTRA_PROVIDERS: bad provider name {name!r}")
    quota = spec.get("daily_quota") or {}
    return Provider(
        name=name,
        label=str(spec.get("label", name)),
        base_url_setting=None,
        static_base_url=str(spec["base_url"]),
        key_pattern=re.compile(str(spec.get("key_pattern", r".{8,512}"))),
        key_hint=str(spec.get("key_hint", "the provider's API key")),
        default_model=str(spec.get("default_model", "")),
        models_need_key=bool(spec.get("models_need_key", True)),
        default_daily_quota=DailyQuota(quota.get("requests"), quota.get("tokens")),
    )


@lru_cache(maxsize=1)
def _registry() -> dict[str, Provider]:
    providers = {p.name: p for p in _BUILTIN}
    if not isinstance(settings.LLM_EXTRA_PROVIDERS, list):
        raise ValueError("LLM_EXTRA_PROVIDERS is not a JSON list (system check tenants.E003)")
    for spec in settings.LLM_EXTRA_PROVIDERS:
        extra = _extra_provider(spec)
        if extra.name in providers:
            raise ValueError(f"LLM_EXTRA_PROVIDERS: {extra.name!r} is already a provider")
        providers[extra.name] = extra
    return providers


@receiver(setting_changed)
def _reset_registry(*, setting: str, **kwargs) -> None:
    if setting == "LLM_EXTRA_PROVIDERS":
        _registry.cache_clear()


def all_providers() -> list[Provider]:
    return list(_registry().values())


def provider_names() -> list[str]:
    return list(_registry())


def get_provider(name: str) -> Provider:
    """The provider called ``name``; KeyError for an unknown one."""
    return _registry()[name]


def is_known(name: object) -> bool:
    return isinstance(name, str) and name in _registry()
