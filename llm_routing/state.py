"""Quota and cooldown state per tenant and provider, shared by every process through the
database.

The hot path is at most one conditional UPDATE (``reserve``) before a call and at most one
UPDATE (``record``) after it. ``reserve`` checks and counts in the same statement, so
concurrent workers cannot all slip past a quota: a tenant overshoots a quota by at most the
requests already in flight when the provider's own headers move the count. Far from every
quota the same statement also takes a lease of a few more requests, which this process
spends without a round trip (llm_routing/leases.py).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction

from config import prepared
from llm_routing import clock, fallback, leases
from llm_routing.dbguard import StateUnavailable, call, guarded
from llm_routing.models import ProviderState
from llm_routing.ratelimits import Cooldown, RateLimitReport, breaker_cooldown


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


def _db():
    # The thread's connection itself: every attribute read through the ``connection``
    # proxy is a context-local lookup, and the hot path makes a dozen of them.
    return connections[DEFAULT_DB_ALIAS]


def _db_datetime(value: dt.datetime | None, db=None):
    return (db or _db()).ops.adapt_datetimefield_value(value)


_tenant_params: dict[tuple[str, object], object] = {}


def _db_tenant(tenant_id, db=None):
    # Cached per database vendor: on SQLite the adaptation builds a hex string each time.
    db = db or _db()
    key = (db.vendor, tenant_id)
    found = _tenant_params.get(key)
    if found is None:
        field = ProviderState._meta.get_field("tenant").target_field
        found = field.get_db_prep_value(tenant_id, db, prepared=False)
        if len(_tenant_params) > 10_000:
            _tenant_params.clear()
        _tenant_params[key] = found
    return found


_ASYNC_COMMIT = "(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"


def _async_commit(sql: str) -> str:
    # One round trip: the statement is its own transaction, and the joined one-row
    # subquery switches the flush off for just that transaction.
    return sql.replace("\nWHERE ", f"\nFROM {_ASYNC_COMMIT}\nWHERE ", 1)


def _execute(sql: str, params, fetch: bool = False, async_sql: str | None = None, db=None):
    """Run one state statement; on PostgreSQL without waiting for the WAL flush.

    A counter or cooldown lost in a database crash costs a few requests' accuracy, while
    waiting for the flush would add milliseconds to every routed request. Inside a caller's
    own transaction the setting would leak into their commit, so it is used only outside.
    ``async_sql``: the statement's no-flush form, when the caller has it ready.
    """
    db = db or _db()
    if db.vendor == "postgresql" and not db.in_atomic_block:
        sql = async_sql or _async_commit(sql)
    with prepared.cursor(db) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if fetch else None


def _ensure_row(tenant_id, provider: str) -> None:
    try:
        with transaction.atomic():
            ProviderState.objects.get_or_create(tenant_id=tenant_id, provider=provider)
    except IntegrityError:
        pass  # another thread or process created it first: that is all we wanted


# Raw SQL on purpose: this runs on every routed request and the ORM would spend far longer
# compiling the CASE expressions than the database spends running them. Every SET reads the
# row's old values (standard SQL), so the window check is the same for each column.
# %(take)s: the lease taken on top of this request; %(unspent)s / %(held)s: what the
# previous lease left unspent / held, given back in the same statement.
_RESERVE = f"""
UPDATE {_TABLE} SET
  requests_used = CASE WHEN window_ends_at > %(now)s
    THEN {{greatest}}(requests_used - %(unspent)s, 0) + 1 + %(take)s ELSE 1 + %(take)s END,
  leased = CASE WHEN window_ends_at > %(now)s
    THEN {{greatest}}(leased - %(held)s, 0) + %(take)s ELSE %(take)s END,
  tokens_used = CASE WHEN window_ends_at > %(now)s THEN tokens_used ELSE 0 END,
  reported_limit = CASE WHEN window_ends_at > %(now)s THEN reported_limit ELSE NULL END,
  window_ends_at = CASE WHEN window_ends_at > %(now)s THEN window_ends_at ELSE %(next)s END
WHERE tenant_id = %(tenant)s AND provider = %(provider)s
  AND (cooldown_until IS NULL OR cooldown_until <= %(now)s)
  AND (window_ends_at IS NULL OR window_ends_at <= %(now)s OR (
    (reported_limit IS NULL
      OR requests_used - %(unspent)s + %(take)s < reported_limit * %(threshold)s){{caps}}))
RETURNING requests_used, reported_limit, failures, window_ends_at
"""

# Returns what a lease did not spend, unless its window has already closed.
_SETTLE = f"""
UPDATE {_TABLE} SET
  requests_used = {{greatest}}(requests_used - %(unspent)s, 0),
  leased = {{greatest}}(leased - %(held)s, 0)
WHERE tenant_id = %(tenant)s AND provider = %(provider)s AND window_ends_at > %(now)s
"""


def _greatest(db) -> str:
    return "GREATEST" if db.vendor == "postgresql" else "MAX"


_reserve_statements: dict[tuple[str, bool, bool], tuple[str, str]] = {}


def _reserve_sql(db, has_request_cap: bool, has_token_cap: bool) -> tuple[str, str]:
    """The reserve statement for these caps, plain and in its no-flush form (built once)."""
    key = (db.vendor, has_request_cap, has_token_cap)
    found = _reserve_statements.get(key)
    if found is None:
        caps = ""
        if has_request_cap:
            caps += " AND requests_used - %(unspent)s + %(take)s < %(request_cap)s"
        if has_token_cap:
            caps += " AND tokens_used < %(token_cap)s"
        sql = _RESERVE.replace("{caps}", caps).replace("{greatest}", _greatest(db))
        found = _reserve_statements[key] = (sql, _async_commit(sql))
    return found


_midnight: tuple[dt.datetime, dt.datetime] | None = None  # (a UTC day's start, its end)


def _next_midnight(now: dt.datetime) -> dt.datetime:
    # Computed once a day rather than per request.
    global _midnight
    found = _midnight
    if found is None or not found[0] <= now < found[1]:
        end = clock.next_utc_midnight(now)
        found = _midnight = (end - dt.timedelta(days=1), end)
    return found[1]


@dataclass(frozen=True)
class Reservation:
    """A counted request, and the counts right after it (to skip writes that change nothing).

    ``requests_used``: the row's count as this request sees it. ``leased``: the request came
    out of (or opened) a lease, so other processes' leases may sit between that count and
    what the provider reports.
    """

    requests_used: int
    reported_limit: int | None
    leased: bool = False
    failures: int = 0  # the row's circuit-breaker streak when it was read
    local: bool = False  # counted on this process's own view (shared state unreachable)


# A reserve that finds the row neither counted nor skippable (it changed between the
# UPDATE and the read) runs again; a healthy provider is never skipped for contention.
_RESERVE_TRIES = 8


def _aware(value) -> dt.datetime | None:
    """A datetime column read by a raw statement: PostgreSQL gives an aware datetime,
    SQLite the stored UTC text (or a naive datetime); the same aware UTC value for both."""
    if value is None or isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def reserve(*, tenant_id, provider: str, allowance: Allowance) -> Reservation | str:
    """Count one request, unless the provider is cooling down or at the quota threshold.

    Returns the Reservation when the request was counted, else why the provider is skipped.
    Never raises for the database: when the shared row cannot be reached, the request is
    counted on this process's own view (llm_routing/fallback.py).
    """
    key = (tenant_id, provider)
    spent = leases.spend(key, allowance)
    if spent is not None:
        return Reservation(requests_used=spent[0], reported_limit=spent[1], leased=True)
    now = clock.now()
    request_cap = allowance.cap(allowance.requests)
    if fallback.use_database():
        try:
            found = call("counting a request", _reserve_shared, key, allowance, request_cap, now)
        except StateUnavailable as exc:
            fallback.mark_down(str(exc))
        else:
            if fallback.mark_up() or fallback.has_pending():
                settle_pending()
            return found
    counted = fallback.reserve_locally(
        key, request_cap=request_cap, threshold=allowance.threshold, now=now
    )
    if isinstance(counted, str):
        return counted
    return Reservation(counted[0], counted[1], local=True)


def _reserve_shared(key, allowance: Allowance, request_cap, now) -> Reservation | str:
    tenant_id, provider = key
    db = _db()
    token_cap = allowance.cap(allowance.tokens)
    held, unspent, last = leases.take_back(key)
    take = 0
    if last is not None and last.allowance == allowance:
        take = leases.lease_size(allowance, request_cap, last, spent=held - unspent)
    sql, async_sql = _reserve_sql(db, request_cap is not None, token_cap is not None)
    params = {
        "now": _db_datetime(now, db),
        "next": _db_datetime(_next_midnight(now), db),
        "tenant": _db_tenant(tenant_id, db),
        "provider": provider,
        "threshold": float(allowance.threshold),
        "request_cap": request_cap,
        "token_cap": token_cap,
        "take": take,
        "unspent": unspent,
        "held": held,
    }
    for _ in range(_RESERVE_TRIES):
        row = _execute(sql, params, fetch=True, async_sql=async_sql, db=db)
        if row is not None:
            counted, reported_limit, failures, window_ends_at = row
            taken = params["take"]
            leases.grant(
                key, allowance=allowance, size=taken, counted=counted,
                reported_limit=reported_limit,
            )
            fallback.remember(key, counted, reported_limit, _aware(window_ends_at))
            return Reservation(
                counted - taken, reported_limit, leased=bool(held or taken), failures=failures
            )
        if params["take"]:
            params["take"] = 0  # room for this request but not for a lease: count it alone
            continue
        if held:
            _settle(key, held, unspent, db=db)
            held = params["held"] = params["unspent"] = 0
        state = ProviderState.objects.filter(tenant_id=tenant_id, provider=provider).first()
        if state is None:
            _ensure_row(tenant_id, provider)  # first use; a racing creator is just as good
            continue
        why = skip_reason(state, allowance, now)
        if why:
            return why
        # Counted by nobody, skippable for no reason: the row moved under us. Again.
    raise StateUnavailable("counting a request: the state row kept changing")


_settle_statements: dict[str, str] = {}


def _settle(key, held: int, unspent: int, db=None) -> None:
    """Give back what a lease did not spend (``held``: what it counted in the row)."""
    db = db or _db()
    tenant_id, provider = key
    params = {
        "unspent": unspent,
        "held": held,
        "tenant": _db_tenant(tenant_id, db),
        "provider": provider,
        "now": _db_datetime(clock.now(), db),
    }
    sql = _settle_statements.get(db.vendor)
    if sql is None:
        sql = _settle_statements[db.vendor] = _SETTLE.replace("{greatest}", _greatest(db))
    _execute(sql, params, db=db)


leases.set_settle_function(_settle)


def record(
    *,
    tenant_id,
    provider: str,
    tokens: int = 0,
    report: RateLimitReport | None = None,
    cooldown: Cooldown | None = None,
    rate_limited: bool = False,
    reservation: Reservation | None = None,
    failed: bool = False,
) -> Cooldown | None:
    """Add an attempt's tokens and what the provider said about its limits. Best-effort:
    never raises; what cannot be written now is written when the database is back.

    Pass ``tokens`` only when a token quota applies (nothing else reads the counter).
    ``failed``: a timeout, 5xx or connection error, counted by the circuit breaker; past
    ``LLM_BREAKER_FAILURES`` in a row the provider rests (the returned Cooldown). Any
    other outcome ends the streak. Nothing is written when the provider's report agrees
    with ``reservation`` and no streak is running: on the common path a routed request
    costs one write, not two.

    A provider's count only ever raises the shared one: requests still in flight are in
    the row but not yet in a report that was sent earlier, so a late report must not
    rewind the count below what is reserved.
    """
    key = (tenant_id, provider)
    if cooldown is not None or rate_limited or failed:
        leases.end(key)  # stop spending a lease on a provider that refuses
    reported = report.daily_used if report is not None else None
    if reported is not None and _agrees(report, reservation):
        reported = None
    streak_ends = not failed and reservation is not None and reservation.failures > 0
    if not (tokens or reported is not None or cooldown or rate_limited or failed or streak_ends):
        return None
    now = clock.now()
    if fallback.use_database():
        try:
            return call(
                "recording an attempt", _record_shared,
                key, tokens=tokens, report=report if reported is not None else None,
                cooldown=cooldown, rate_limited=rate_limited, failed=failed,
                streak_ends=streak_ends, now=now,
            )
        except StateUnavailable as exc:
            fallback.mark_down(str(exc))
    # Best-effort from here: this process's view now, the shared row later.
    streak = fallback.failure_streak(key, failed)
    tripped = breaker_cooldown(streak, now) if failed else None
    rest = _later(cooldown, tripped)
    fallback.defer(
        key,
        tokens=tokens,
        reported_used=reported,
        reported_limit=report.daily_limit if report is not None else None,
        cooldown=(rest.until, rest.reason) if rest is not None else None,
        rate_limited_at=now if rate_limited else None,
        failed=failed,
    )
    return tripped


def _later(a: Cooldown | None, b: Cooldown | None) -> Cooldown | None:
    if a is None or b is None:
        return a or b
    return a if a.until >= b.until else b


def _agrees(report: RateLimitReport, reservation: Reservation | None) -> bool:
    """Whether the provider's report leaves the row as it is: same limit, and a count no
    higher than this request saw (a lower one cannot lower the row: see ``record``)."""
    return (
        reservation is not None
        and report.daily_limit == reservation.reported_limit
        and report.daily_used is not None
        and report.daily_used <= reservation.requests_used + _tolerance(reservation)
    )


def _record_shared(
    key, *, tokens, report, cooldown, rate_limited, failed, streak_ends, now
) -> Cooldown | None:
    tenant_id, provider = key
    db = _db()
    sets: list[str] = []
    params: list = []
    if tokens:
        sets.append("tokens_used = tokens_used + %s")
        params.append(int(tokens))
    if report is not None:
        # What leases hold stays counted on top of the provider's count, less what this
        # process has spent of its own (the provider counted that).
        spent = leases.rebase(key, report.daily_used)
        sets += [
            f"requests_used = {_greatest(db)}(requests_used, %s + leased - %s)",
            "reported_limit = %s",
        ]
        params += [report.daily_used, spent, report.daily_limit]
        if report.daily_reset_at is not None:
            sets.append("window_ends_at = %s")
            params.append(_db_datetime(report.daily_reset_at, db))
    if cooldown is not None:
        sets += ["cooldown_until = %s", "cooldown_reason = %s"]
        params += [_db_datetime(cooldown.until, db), cooldown.reason[:200]]
    if rate_limited:
        sets.append("last_429_at = %s")
        params.append(_db_datetime(now, db))
    sets.append("failures = failures + 1" if failed else "failures = 0")
    sql = (
        f"UPDATE {_TABLE} SET {', '.join(sets)}\nWHERE tenant_id = %s AND provider = %s"
        "\nRETURNING failures"
    )
    row = _execute(sql, [*params, _db_tenant(tenant_id, db), provider], fetch=True, db=db)
    if not failed or row is None:
        return None
    tripped = breaker_cooldown(row[0], now)
    if tripped is not None and (cooldown is None or cooldown.until < tripped.until):
        _execute(
            f"UPDATE {_TABLE} SET cooldown_until = %s, cooldown_reason = %s"
            "\nWHERE tenant_id = %s AND provider = %s",
            [_db_datetime(tripped.until, db), tripped.reason[:200],
             _db_tenant(tenant_id, db), provider],
            db=db,
        )
    return tripped


def settle_pending() -> None:
    """Write what happened while the shared state was unreachable (see fallback.py)."""
    for key, p in fallback.take_pending().items():
        tenant_id, provider = key
        try:
            with guarded("settling what happened during an outage") as db:
                _ensure_row(tenant_id, provider)
                g = _greatest(db)
                sets = [
                    "requests_used = requests_used + %(requests)s",
                    "tokens_used = tokens_used + %(tokens)s",
                ]
                params = {
                    "requests": p.requests, "tokens": p.tokens,
                    "tenant": _db_tenant(tenant_id, db), "provider": provider,
                }
                if p.reported_used is not None:
                    sets[0] = f"requests_used = {g}(requests_used + %(requests)s, %(reported)s)"
                    params["reported"] = p.reported_used
                if p.cooldown_until is not None:
                    sets += [
                        "cooldown_until = CASE WHEN cooldown_until IS NULL OR cooldown_until"
                        " < %(until)s THEN %(until)s ELSE cooldown_until END",
                        "cooldown_reason = %(reason)s",
                    ]
                    params["until"] = _db_datetime(p.cooldown_until, db)
                    params["reason"] = p.cooldown_reason[:200]
                if p.last_429_at is not None:
                    sets.append("last_429_at = %(at)s")
                    params["at"] = _db_datetime(p.last_429_at, db)
                if p.succeeded:
                    sets.append("failures = %(failures)s")
                elif p.failures:
                    sets.append("failures = failures + %(failures)s")
                params["failures"] = p.failures
                _execute(
                    f"UPDATE {_TABLE} SET {', '.join(sets)}\n"
                    "WHERE tenant_id = %(tenant)s AND provider = %(provider)s",
                    params,
                    db=db,
                )
            fallback.stats["settled_writes"] += 1
        except StateUnavailable as exc:
            fallback.give_back(key, p)
            fallback.mark_down(str(exc))
            return


def _tolerance(reservation: Reservation) -> int:
    # Other processes' leases sit between a leased request's view of the count and what
    # the provider counted; within a few leases the count is left alone.
    return 2 * leases.size_setting() if reservation.leased else 0


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
