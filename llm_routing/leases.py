"""Quota leases: a process counts a few requests in the shared state row at once, then
spends them without asking the database again.

Far from every quota, one conditional UPDATE (``state.reserve``) counts the request and
up to ``LLM_ROUTING_LEASE_SIZE`` more, which this process then spends locally for at most
``LLM_ROUTING_LEASE_SECONDS``. The lease is counted before it is spent, so the shared count
never falls behind what was sent: leases cost accuracy only in the safe direction (a
provider can look a little busier than it is, never less busy). Near a quota, with a
token quota, or with the size at 0, no lease is taken and every request is checked and
counted in the row as before.

What is not spent comes back: at the next renewal (in the same UPDATE), from the settler
thread once the lease has expired, and at process exit. The row's ``leased`` column holds
what is out, so ``requests_used - leased`` is what was really sent.

This module only keeps the book (leaf: no database access). ``state`` does the SQL and
hands the settler its settle function.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger("llm_routing.leases")

Key = tuple[object, str]  # (tenant id, provider)

# A lease is at most this share of what is left before the tightest quota (1/16): many
# processes renewing at once can then hold only a small part of the headroom between them.
HEADROOM_SHARE = 16


def size_setting() -> int:
    return int(getattr(settings, "LLM_ROUTING_LEASE_SIZE", 64))


def seconds_setting() -> float:
    return float(getattr(settings, "LLM_ROUTING_LEASE_SECONDS", 0.5))


@dataclass
class Lease:
    """What this process holds of one tenant's provider row, and what it last read there."""

    allowance: object  # state.Allowance the lease was granted under
    size: int  # requests counted in the row for this lease (0: a plain snapshot)
    spare: int  # of those, not spent yet
    counted: int  # the row's requests_used right after the grant
    reported_limit: int | None
    granted_at: float  # time.monotonic()
    expires: float


_lock = threading.Lock()
_book: dict[Key, Lease] = {}
_settler: threading.Thread | None = None
_settle: Callable[[Key, int, int], None] | None = None
_wake = threading.Event()


def spend(key: Key, allowance) -> tuple[int, int | None] | None:
    """Spend one request of a live lease: (the row's count as this request sees it, the
    provider's reported limit), or None when there is no live lease to spend."""
    with _lock:
        lease = _book.get(key)
        if (
            lease is None
            or lease.spare <= 0
            or lease.allowance != allowance
            or time.monotonic() >= lease.expires
        ):
            return None
        lease.spare -= 1
        return lease.counted - lease.spare, lease.reported_limit


def take_back(key: Key) -> tuple[int, int, Lease | None]:
    """Empty the lease for a renewal: (requests it held, of those unspent, the last lease
    as a snapshot for sizing the next one). The caller returns the unspent ones."""
    with _lock:
        lease = _book.get(key)
        if lease is None:
            return 0, 0, None
        held, unspent = lease.size, lease.spare
        lease.size = lease.spare = 0
        return held, unspent, lease


def lease_size(allowance, request_cap: int | None, last: Lease, spent: int) -> int:
    """How many requests to take on top of this one: about what this process will send in
    one lease period at its recent rate, within the size setting and a small share of what
    is left before the tightest quota. ``spent``: requests spent from the last lease."""
    size = size_setting()
    if size < 2 or allowance.tokens is not None:
        return 0  # token use is known only after each answer: count it exactly
    # Requests since the last statement (those spent, and this one) over the time taken:
    # a process sending one request every few seconds takes no lease at all.
    elapsed = max(time.monotonic() - last.granted_at, 1e-3)
    wanted = math.ceil((spent + 1) / elapsed * seconds_setting())
    take = min(size, wanted)
    if request_cap is not None:
        take = min(take, (request_cap - last.counted) // HEADROOM_SHARE)
    if last.reported_limit is not None:
        room = int(last.reported_limit * allowance.threshold) - last.counted
        take = min(take, room // HEADROOM_SHARE)
    return take if take >= 2 else 0


def grant(
    key: Key, *, allowance, size: int, counted: int, reported_limit: int | None
) -> Lease:
    """Record what the row said after a reserve; ``size`` requests are this process's."""
    now = time.monotonic()
    lease = Lease(allowance, size, size, counted, reported_limit, granted_at=now, expires=now)
    if size:
        lease.expires += seconds_setting()
    with _lock:
        earlier = _book.get(key)
        if earlier is not None and earlier.size:
            # Another thread renewed at the same moment: keep both, so neither is lost.
            lease.size += earlier.size
            lease.spare += earlier.spare
            lease.expires = max(lease.expires, earlier.expires)
        _book[key] = lease
    if size:
        _ensure_settler()
    return lease


def rebase(key: Key, requests_used: int) -> int:
    """The provider's own count is replacing the row's: see later spends from there.
    Returns the part of this process's lease already spent (the provider counted it)."""
    with _lock:
        lease = _book.get(key)
        if lease is None:
            return 0
        lease.counted = requests_used + lease.spare
        return lease.size - lease.spare


def end(key: Key) -> None:
    """Stop spending this lease (a failure was seen); its rest goes back soon."""
    with _lock:
        lease = _book.get(key)
        if lease is not None:
            lease.expires = 0.0
    if lease is not None and lease.size:
        _wake.set()


def forget() -> None:
    """Drop the whole book without returning anything (tests, a forked child)."""
    with _lock:
        _book.clear()


def outstanding() -> dict[Key, tuple[int, int]]:
    """key -> (held, unspent) for every lease holding requests (for tests and stats)."""
    with _lock:
        return {k: (v.size, v.spare) for k, v in _book.items() if v.size}


def _due(everything: bool) -> list[tuple[Key, int, int]]:
    now = time.monotonic()
    due = []
    with _lock:
        for key, lease in _book.items():
            if lease.size and (everything or lease.expires <= now):
                due.append((key, lease.size, lease.spare))
                lease.size = lease.spare = 0
    return due


def settle_due(everything: bool = False) -> int:
    """Return what expired leases (or all of them) did not spend; returns leases settled."""
    settle = _settle
    if settle is None:
        return 0
    due = _due(everything)
    for key, held, unspent in due:
        try:
            settle(key, held, unspent)
        except Exception as exc:  # noqa: BLE001 - a lost give-back only overstates use
            logger.warning("routing: returning a quota lease failed (%s)", type(exc).__name__)
    return len(due)


def set_settle_function(function: Callable[[Key, int, int], None]) -> None:
    global _settle
    _settle = function


def _ensure_settler() -> None:
    global _settler
    if _settler is not None and _settler.is_alive():
        return
    with _lock:
        if _settler is not None and _settler.is_alive():
            return
        _settler = threading.Thread(target=_settle_loop, name="quota-lease-settler", daemon=True)
        _settler.start()


def _settle_loop() -> None:
    from django.db import close_old_connections, connections

    while True:
        _wake.wait(max(seconds_setting(), 0.05))
        _wake.clear()
        if settle_due():
            close_old_connections()
        if not outstanding():
            connections.close_all()  # idle: hold no database connection from this thread


@atexit.register
def _at_exit() -> None:
    settle_due(everything=True)


def _after_fork_in_child() -> None:
    # The parent's leases are the parent's: a child spending them would count twice. The
    # lock may have been held by another thread at the fork, so the child gets a new one.
    global _settler, _lock
    _lock = threading.Lock()
    _book.clear()
    _settler = None


os.register_at_fork(after_in_child=_after_fork_in_child)
