"""Move system-wide provider keys from the environment into one tenant (a one-time step).

Each provider's key comes from ``<PROVIDER>_API_KEY`` (GROQ_API_KEY, OPENROUTER_API_KEY,
LLM7_API_KEY, and the same for any extra provider). All present keys are validated before
anything is stored; a tenant's existing key stays unless ``overwrite``; storing a key that
is already there is reported as such, so a rerun changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from llm_routing import providers
from tenants import crypto, services
from tenants.models import Tenant


class SystemTokenError(ValueError):
    pass


def env_var_for(provider: str) -> str:
    return f"{provider.upper()}_API_KEY"


def default_tenant() -> Tenant | None:
    """The oldest tenant: the one the single-tenant system's keys belonged to."""
    return Tenant.objects.order_by("created_at", "pk").first()


def _stored_key(tenant: Tenant, provider: str) -> str | None:
    """The tenant's current key, or None; raises TokenDecryptionError if unreadable."""
    return services.tenant_provider_key(tenant=tenant, provider=provider)


def system_tokens_migrate(
    *, tenant: Tenant, environ: Mapping[str, str], overwrite: bool = False
) -> dict[str, str]:
    """Store the environment's keys in ``tenant``. Returns provider -> what happened.

    Outcomes: "stored", "replaced", "already stored", "kept existing key",
    "kept existing key (unreadable)", "not set". Raises SystemTokenError naming each
    malformed variable (never quoting it); nothing is stored then.
    """
    found = {
        p: environ[env_var_for(p)].strip()
        for p in providers.provider_names()
        if environ.get(env_var_for(p), "").strip()
    }
    problems = {
        env_var_for(p): problem
        for p, key in found.items()
        if (problem := services.token_format_problem(p, key))
    }
    if problems:
        raise SystemTokenError(
            "; ".join(f"{var} {problem}" for var, problem in problems.items())
            + ". Nothing was stored."
        )

    outcome = {p: "not set" for p in providers.provider_names() if p not in found}
    to_store: dict[str, str] = {}
    for provider, key in found.items():
        try:
            current = _stored_key(tenant, provider)
        except crypto.TokenDecryptionError:
            outcome[provider] = "kept existing key (unreadable)"
            if overwrite:
                to_store[provider], outcome[provider] = key, "replaced"
            continue
        if current is None:
            to_store[provider], outcome[provider] = key, "stored"
        elif current == key:
            outcome[provider] = "already stored"
        elif overwrite:
            to_store[provider], outcome[provider] = key, "replaced"
        else:
            outcome[provider] = "kept existing key"
    if to_store:
        services.tenant_set_tokens(tenant=tenant, tokens=to_store)
    return {p: outcome[p] for p in providers.provider_names()}
