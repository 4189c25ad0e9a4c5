"""Quota and cooldown state per tenant and provider, shared by every process through the
database.

The hot path is one conditional UPDATE (``reserve``) before a call and at most one UPDATE
(``record``) after it. ``reserve`` checks and counts in the same statement, so concurrent
workers cannot all slip past a quota: a tenant overshoots a quota by at most the requests
already in flight when the provider's own headers move the count.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.db import IntegrityError, models, transaction
from django.db.models import Case, F, Q, Value, When

from llm_routing import clock
from llm_routing.models import ProviderState
from llm_routing.ratelimits import Cooldown, RateLimitReport


@dataclass(frozen=True)
class Allowance:
    """What a tenant may use of a provider per day before routing moves on."""

    requests: int | None
    tokens: int | None
    threshold: float

    def cap(self, quota: int | None) -> int | None:
        # Use "reaches the threshold" at used >= threshold * quota; for whole counts that
        # is used >= ceil(threshold * quota).
        return None if quota is None else max(1, math.ceil(self.threshold * quota - 1e-9))


def _fresh(now: dt.datetime) -> Q:
    return Q(window_ends_at__gt=now)


def _ensure_row(tenant_id, provider: str) -> None:
    try:
        with transaction.atomic():
            ProviderState.objects.get_or_create(tenant_id=tenant_id, provider=provider)
    except IntegrityError:
        pass  # another process created it first


def reserve(*, tenant_id, provider: str, allowance: Allowance) -> str | None:
    """Count one request, unless the provider is cooling down or at the quota threshold.

    Returns None when the request was counted, else why the provider is skipped.
    """
    now = clock.now()
    fresh = _fresh(now)
    rows = ProviderState.objects.filter(tenant_id=tenant_id, provider=provider).filter(
        Q(cooldown_until__isnull=True) | Q(cooldown_until__lte=now)
    )
    if (cap := allowance.cap(allowance.requests)) is not None:
        rows = rows.filter(~fresh | Q(requests_used__lt=cap))
    if (cap := allowance.cap(allowance.tokens)) is not None:
        rows = rows.filter(~fresh | Q(tokens_used__lt=cap))
    rows = rows.filter(
        ~fresh
        | Q(reported_limit__isnull=True)
        | Q(requests_used__lt=F("reported_limit") * Value(allowance.threshold))
    )
    big = models.BigIntegerField()
    changes = {
        "requests_used": Case(
            When(fresh, then=F("requests_used") + 1), default=Value(1), output_field=big
        ),
        "tokens_used": Case(When(fresh, then=F("tokens_used")), default=Value(0), output_field=big),
        "reported_limit": Case(
            When(fresh, then=F("reported_limit")), default=Value(None), output_field=big
        ),
        "window_ends_at": Case(
            When(fresh, then=F("window_ends_at")),
            default=Value(clock.next_utc_midnight(now)),
            output_field=models.DateTimeField(),
        ),
    }
    for _ in range(2):
        if rows.update(**changes):
            return None
        state = ProviderState.objects.filter(tenant_id=tenant_id, provider=provider).first()
        if state is not None:
            return skip_reason(state, allowance, now) or "busy, try again"
        _ensure_row(tenant_id, provider)
    return "state unavailable"


def record(
    *,
    tenant_id,
    provider: str,
    tokens: int = 0,
    report: RateLimitReport | None = None,
    cooldown: Cooldown | None = None,
    rate_limited: bool = False,
) -> None:
    """Add an attempt's tokens and what the provider said about its limits."""
    changes: dict = {}
    if tokens:
        changes["tokens_used"] = F("tokens_used") + tokens
    if report is not None and report.daily_used is not None:
        # The provider's own count is the truth about this key's use today.
        changes["requests_used"] = report.daily_used
        changes["reported_limit"] = report.daily_limit
        if report.daily_reset_at is not None:
            changes["window_ends_at"] = report.daily_reset_at
    if cooldown is not None:
        changes["cooldown_until"] = cooldown.until
        changes["cooldown_reason"] = cooldown.reason[:200]
    if rate_limited:
        changes["last_429_at"] = clock.now()
    if changes:
        ProviderState.objects.filter(tenant_id=tenant_id, provider=provider).update(**changes)


def skip_reason(state: ProviderState, allowance: Allowance, now: dt.datetime) -> str | None:
    """Why routing passes this provider by right now (None: it does not)."""
    if state.cooldown_until and state.cooldown_until > now:
        why = f" ({state.cooldown_reason})" if state.cooldown_reason else ""
        return f"cooling down until {state.cooldown_until.isoformat(timespec='seconds')}{why}"
    if not (state.window_ends_at and state.window_ends_at > now):
        return None
    percent = f"{allowance.threshold:.0%}"
    cap = allowance.cap(allowance.requests)
    if cap is not None and state.requests_used >= cap:
        return f"daily request quota {percent} used ({state.requests_used}/{allowance.requests})"
    cap = allowance.cap(allowance.tokens)
    if cap is not None and state.tokens_used >= cap:
        return f"daily token quota {percent} used ({state.tokens_used}/{allowance.tokens})"
    limit = state.reported_limit
    if limit is not None and state.requests_used >= limit * allowance.threshold:
        return f"provider reports {state.requests_used}/{limit} requests used today"
    return None


def states_for(tenant_id) -> dict[str, ProviderState]:
    return {s.provider: s for s in ProviderState.objects.filter(tenant_id=tenant_id)}
