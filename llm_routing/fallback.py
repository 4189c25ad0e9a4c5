"""Routing while the shared state is unreachable: this process's own view, for a while.

Decision (docs/routing.md, README "Reliability"): when the database that holds quota and
cooldown state cannot be read or written, routing **fails open on this process's own view
for ``LLM_ROUTING_FAIL_OPEN_SECONDS``** (default 30), then **fails closed** (every
candidate is skipped with "shared routing state unreachable", so ``complete()`` raises
RoutingError) until the database answers again.

While open, a request is counted against the last count this process read from the
shared row plus what it has sent since, and providers this process saw refuse (429,
circuit breaker, bad key) stay skipped until their cooldown ends. Near a quota every
process is blind to the others, so each may spend only 1/16 of the room it last saw
before the tightest quota (``leases.HEADROOM_SHARE``): up to 16 processes together stay
within the quota through an outage. What happens meanwhile
(requests sent, tokens, cooldowns, failures) is kept here and written to the shared row
when the database is back, so the shared counts never fall behind what was sent.

Only one thread at a time probes the database during an outage (every
``PROBE_SECONDS``); the others go straight to the local view, so an outage costs each
request nothing after the first timeout. This module holds no database code (``state``
does the SQL): it is a book, guarded by one lock.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings

from llm_routing.leases import HEADROOM_SHARE

logger = logging.getLogger("llm_routing.fallback")

Key = tuple[object, str]  # (tenant id, provider)

# During an outage, one thread tries the database again this often.
PROBE_SECONDS = 1.0


@dataclass
class Known:
    """What this process last read of one shared row."""

    requests_used: int
    reported_limit: int | None
    window_ends_at: dt.datetime | None


@dataclass
class Pending:
    """What happened to one row while it could not be written; written when it can."""

    requests: int = 0
    tokens: int = 0
    reported_used: int | None = None
    reported_limit: int | None = None
    cooldown_until: dt.datetime | None = None
    cooldown_reason: str = ""
    last_429_at: dt.datetime | None = None
    failures: int = 0  # transient failures in a row (circuit breaker) since the last write
    succeeded: bool = False  # a success came after them: the row's streak ends

    def empty(self) -> bool:
        return self == Pending()

    def merge(self, later: Pending) -> None:
        """Add what ``later`` says happened after this (counts add, the latest wins)."""
        self.requests += later.requests
        self.tokens += later.tokens
        if later.reported_used is not None and (
            self.reported_used is None or later.reported_used > self.reported_used
        ):
            self.reported_used, self.reported_limit = later.reported_used, later.reported_limit
        if later.cooldown_until is not None and (
            self.cooldown_until is None or self.cooldown_until < later.cooldown_until
        ):
            self.cooldown_until, self.cooldown_reason = later.cooldown_until, later.cooldown_reason
        if later.last_429_at is not None:
            self.last_429_at = max(self.last_429_at or later.last_429_at, later.last_429_at)
        if later.succeeded:
            self.failures, self.succeeded = later.failures, True
        else:
            self.failures += later.failures


@dataclass
class _Outage:
    since: float  # time.monotonic() of the first failure
    next_probe: float
    probing: bool = False
    local_sent: dict = field(default_factory=dict)  # key -> requests sent while down


_lock = threading.Lock()
_outage: _Outage | None = None
_known: dict[Key, Known] = {}
_pending: dict[Key, Pending] = {}
_failures: dict[Key, int] = {}  # this process's own view of each breaker's streak
_cooldowns: dict[Key, tuple[dt.datetime, str]] = {}
stats = {"outages": 0, "deferred_writes": 0, "settled_writes": 0, "failed_closed": 0}


def down() -> bool:
    return _outage is not None


def use_database() -> bool:
    """Whether this call should try the database: always while it works; during an outage,
    only the one thread whose turn it is to probe."""
    outage = _outage
    if outage is None:
        return True
    now = time.monotonic()
    with _lock:
        if _outage is None:
            return True
        if outage.probing or now < outage.next_probe:
            return False
        outage.probing = True
        return True


def mark_down(reason: str) -> None:
    global _outage
    now = time.monotonic()
    with _lock:
        if _outage is None:
            _outage = _Outage(since=now, next_probe=now + PROBE_SECONDS)
            stats["outages"] += 1
            first = True
        else:
            _outage.probing = False
            _outage.next_probe = now + PROBE_SECONDS
            first = False
    if first:
        logger.warning(
            "routing: shared state unreachable (%s); routing on this process's own view for "
            "up to %ss",
            reason,
            settings.LLM_ROUTING_FAIL_OPEN_SECONDS,
        )


def mark_up() -> bool:
    """The database answered. True when that ends an outage (the caller then settles)."""
    global _outage
    if _outage is None:
        return False
    with _lock:
        ended, _outage = _outage, None
    if ended is not None:
        logger.warning(
            "routing: shared state reachable again after %.1fs",
            time.monotonic() - ended.since,
        )
    return ended is not None


def remember(key: Key, requests_used: int, reported_limit: int | None, window_ends_at) -> None:
    """The row as a reserve just read it (the starting point of the local view)."""
    _known[key] = Known(requests_used, reported_limit, window_ends_at)
    if len(_known) > 50_000:
        _known.clear()  # bounded: a busy multi-tenant process forgets the oldest view


def failure_streak(key: Key, failed: bool) -> int:
    """This process's count of transient failures in a row for ``key`` (0 after a success)."""
    with _lock:
        count = _failures.get(key, 0) + 1 if failed else 0
        if count:
            _failures[key] = count
        else:
            _failures.pop(key, None)
    return count


def remember_cooldown(key: Key, until: dt.datetime, reason: str) -> None:
    with _lock:
        found = _cooldowns.get(key)
        if found is None or found[0] < until:
            _cooldowns[key] = (until, reason)


def local_skip_reason(key: Key, now: dt.datetime) -> str | None:
    found = _cooldowns.get(key)
    if found is not None and found[0] > now:
        return (
            f"cooling down until {found[0].isoformat(timespec='seconds')} ({found[1]}; "
            "this process's view, shared state unreachable)"
        )
    return None


def reserve_locally(key: Key, *, request_cap: int | None, threshold: float, now: dt.datetime):
    """Count one request on this process's view: (requests used as seen here, reported
    limit), or the reason to skip the provider."""
    outage = _outage
    if outage is not None:
        away = time.monotonic() - outage.since
        if away > settings.LLM_ROUTING_FAIL_OPEN_SECONDS:
            stats["failed_closed"] += 1
            return f"shared routing state unreachable for {away:.0f}s (failing closed)"
    why = local_skip_reason(key, now)
    if why:
        return why
    with _lock:
        known = _known.get(key)
        base, limit = 0, None
        if known is not None and (known.window_ends_at is None or known.window_ends_at > now):
            base, limit = known.requests_used, known.reported_limit
        sent = outage.local_sent.get(key, 0) if outage is not None else 0
        used = base + sent
        if request_cap is not None and sent >= (request_cap - base) // HEADROOM_SHARE:
            return (
                f"daily request quota near ({used}/{request_cap}): this process's share of "
                "the room is spent while the shared state is unreachable"
            )
        if limit is not None and sent >= (int(limit * threshold) - base) // HEADROOM_SHARE:
            return (
                f"provider reports {used}/{limit} requests used: this process's share of the "
                "room is spent while the shared state is unreachable"
            )
        if outage is not None:
            outage.local_sent[key] = sent + 1
        _pending_for(key).requests += 1
        stats["deferred_writes"] += 1
    return used + 1, limit


def _pending_for(key: Key) -> Pending:
    found = _pending.get(key)
    if found is None:
        found = _pending[key] = Pending()
    return found


def defer(
    key: Key,
    *,
    tokens: int = 0,
    reported_used: int | None = None,
    reported_limit: int | None = None,
    cooldown: tuple[dt.datetime, str] | None = None,
    rate_limited_at: dt.datetime | None = None,
    failed: bool = False,
) -> None:
    """Keep what an attempt would have written, for ``take_pending``."""
    until, reason = cooldown or (None, "")
    later = Pending(
        tokens=tokens, reported_used=reported_used, reported_limit=reported_limit,
        cooldown_until=until, cooldown_reason=reason, last_429_at=rate_limited_at,
        failures=int(failed), succeeded=not failed,
    )
    with _lock:
        _pending_for(key).merge(later)
        stats["deferred_writes"] += 1
    if cooldown is not None:
        remember_cooldown(key, *cooldown)


def has_pending() -> bool:
    return bool(_pending)


def take_pending() -> dict[Key, Pending]:
    with _lock:
        taken = {k: v for k, v in _pending.items() if not v.empty()}
        _pending.clear()
    return taken


def give_back(key: Key, pending: Pending) -> None:
    """A settle that failed: keep it for the next try, before what came since."""
    with _lock:
        since = _pending.get(key)
        _pending[key] = pending
        if since is not None:
            pending.merge(since)


def forget() -> None:
    """Drop everything (tests, a forked child: the parent settles its own)."""
    global _outage
    with _lock:
        _outage = None
        _known.clear()
        _pending.clear()
        _failures.clear()
        _cooldowns.clear()
    for name in stats:
        stats[name] = 0


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    forget()


os.register_at_fork(after_in_child=_after_fork_in_child)
