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

from django.db import IntegrityError, connection, transaction

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


_TABLE = ProviderState._meta.db_table


def _db_datetime(value: dt.datetime | None):
    return connection.ops.adapt_datetimefield_value(value)


def _db_tenant(tenant_id):
    field = ProviderState._meta.get_field("tenant").target_field
    return field.get_db_prep_value(tenant_id, connection, prepared=False)


_ASYNC_COMMIT = "(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"


def _execute(sql: str, params, fetch: bool = False):
    """Run one state statement; on PostgreSQL without waiting for the WAL flush.

    A counter or cooldown lost in a database crash costs a few requests' accuracy, while
    waiting for the flush would add milliseconds to every routed request. Inside a caller's
    own transaction the setting would leak into their commit, so it is used only outside.
    """
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # One round trip: the statement is its own transaction, and the joined one-row
        # subquery switches the flush off for just that transaction.
        sql = sql.replace("\nWHERE ", f"\nFROM {_ASYNC_COMMIT}\nWHERE ", 1)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if fetch else None


def _ensure_row(tenant_id, provider: str) -> None:
    try:
        with transaction.atomic():
            ProviderState.objects.get_or_create(tenant_id=tenant_id, provider=provider)
    except IntegrityError:
        pass  # another process created it first


# Raw SQL on purpose: this runs on every routed request and the ORM would spend far longer
# compiling the CASE expressions than the database spends running them. Every SET reads the
# row's old values (standard SQL), so the window check is the same for each column.
_RESERVE = f"""
UPDATE {_TABLE} SET
  requests_used = CASE WHEN window_ends_at > %(now)s THEN requests_used + 1 ELSE 1 END,
  tokens_used = CASE WHEN window_ends_at > %(now)s THEN tokens_used ELSE 0 END,
  reported_limit = CASE WHEN window_ends_at > %(now)s THEN reported_limit ELSE NULL END,
  window_ends_at = CASE WHEN window_ends_at > %(now)s THEN window_ends_at ELSE %(next)s END
WHERE tenant_id = %(tenant)s AND provider = %(provider)s
  AND (cooldown_until IS NULL OR cooldown_until <= %(now)s)
  AND (window_ends_at IS NULL OR window_ends_at <= %(now)s OR (
    (reported_limit IS NULL OR requests_used < reported_limit * %(threshold)s){{caps}}))
RETURNING requests_used, reported_limit
"""


def _reserve_sql(has_request_cap: bool, has_token_cap: bool) -> str:
    caps = ""
    if has_request_cap:
        caps += " AND requests_used < %(request_cap)s"
    if has_token_cap:
        caps += " AND tokens_used < %(token_cap)s"
    return _RESERVE.replace("{caps}", caps)


@dataclass(frozen=True)
class Reservation:
    """A counted request, and the counts right after it (to skip writes that change nothing)."""

    requests_used: int
    reported_limit: int | None


def reserve(*, tenant_id, provider: str, allowance: Allowance) -> Reservation | str:
    """Count one request, unless the provider is cooling down or at the quota threshold.

    Returns the Reservation when the request was counted, else why the provider is skipped.
    """
    now = clock.now()
    request_cap, token_cap = allowance.cap(allowance.requests), allowance.cap(allowance.tokens)
    sql = _reserve_sql(request_cap is not None, token_cap is not None)
    params = {
        "now": _db_datetime(now),
        "next": _db_datetime(clock.next_utc_midnight(now)),
        "tenant": _db_tenant(tenant_id),
        "provider": provider,
        "threshold": float(allowance.threshold),
        "request_cap": request_cap,
        "token_cap": token_cap,
    }
    for _ in range(2):
        row = _execute(sql, params, fetch=True)
        if row is not None:
            return Reservation(requests_used=row[0], reported_limit=row[1])
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
    reservation: Reservation | None = None,
) -> None:
    """Add an attempt's tokens and what the provider said about its limits.

    Pass ``tokens`` only when a token quota applies (nothing else reads the counter).
    Nothing is written when the provider's report agrees with ``reservation``: on the
    common path a routed request then costs one write, not two.
    """
    sets: list[str] = []
    params: list = []
    if tokens:
        sets.append("tokens_used = tokens_used + %s")
        params.append(int(tokens))
    agrees = reservation is not None and report is not None and (
        report.daily_used == reservation.requests_used
        and report.daily_limit == reservation.reported_limit
    )
    if report is not None and report.daily_used is not None and not agrees:
        # The provider's own count is the truth about this key's use today.
        sets += ["requests_used = %s", "reported_limit = %s"]
        params += [report.daily_used, report.daily_limit]
        if report.daily_reset_at is not None:
            sets.append("window_ends_at = %s")
            params.append(_db_datetime(report.daily_reset_at))
    if cooldown is not None:
        sets += ["cooldown_until = %s", "cooldown_reason = %s"]
        params += [_db_datetime(cooldown.until), cooldown.reason[:200]]
    if rate_limited:
        sets.append("last_429_at = %s")
        params.append(_db_datetime(clock.now()))
    if not sets:
        return
    sql = f"UPDATE {_TABLE} SET {', '.join(sets)}\nWHERE tenant_id = %s AND provider = %s"
    _execute(sql, [*params, _db_tenant(tenant_id), provider])


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
