"""What routing thinks of each provider for one tenant right now (for the screens)."""

from __future__ import annotations

from typing import Any

from llm_routing import clock, providers, state
from tenants import selectors


def provider_status(*, tenant: Any) -> dict[str, dict[str, Any]]:
    """provider -> today's use, the quotas, the threshold, cooldown and why it is skipped."""
    tenant = selectors.resolve_tenant(tenant)
    config = tenant.config
    now = clock.now()
    states = state.states_for(tenant.pk)
    result = {}
    for name in providers.provider_names():
        quota = config.daily_quota(name)
        allowance = state.Allowance(quota.requests, quota.tokens, config.quota_threshold)
        row = states.get(name)
        in_window = bool(row and row.window_ends_at and row.window_ends_at > now)
        cooling = bool(row and row.cooldown_until and row.cooldown_until > now)
        reason = state.skip_reason(row, allowance, now) if row else None
        if name not in tenant.configured_providers():
            reason = "no key stored"
        result[name] = {
            # Without what running processes have counted ahead and not spent yet.
            "requests_today": max(row.requests_used - row.leased, 0) if in_window else 0,
            # Tokens are counted only against a token quota (the ledger has the full story).
            "tokens_today": (row.tokens_used if in_window else 0) if quota.tokens else None,
            "quota_requests": quota.requests,
            "quota_tokens": quota.tokens,
            "reported_limit": row.reported_limit if in_window else None,
            "threshold": config.quota_threshold,
            "cooldown_until": row.cooldown_until.isoformat() if cooling else None,
            "last_429_at": row.last_429_at.isoformat() if row and row.last_429_at else None,
            "skipped_reason": reason,
        }
    return result
