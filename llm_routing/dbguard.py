"""Bounded, self-healing database access for routing's own statements.

Routing runs in threads Django's request cycle never touches (workers, scripts, services
that import ``llm_routing``), so it looks after its connection itself:

- ``guarded()`` bounds a block of database work: if it is still running after
  ``LLM_ROUTING_DB_TIMEOUT`` seconds, a watchdog thread shuts the connection's socket
  down, and the blocked call fails at once instead of waiting for TCP to give up (a
  database that accepted the connection and then went silent). New connections are
  bounded by ``DB_CONNECT_TIMEOUT`` (config/settings.py).
- Any database error inside the block closes the thread's connection (outside a caller's
  transaction), so the next statement reconnects: a thread recovers by itself once the
  database is back, without anyone calling ``close_old_connections()``.
- The error is re-raised as ``StateUnavailable``, never as a driver exception; the caller
  decides what to do without the database (llm_routing/fallback.py).

SQLite has no network to hang on: the watchdog only arms for connections with a socket.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.utils import InterfaceError

logger = logging.getLogger("llm_routing.dbguard")
T = TypeVar("T")

# How often the watchdog looks at the armed blocks: a timeout fires at most this late.
_POLL_SECONDS = 0.05


class StateUnavailable(Exception):
    """The shared routing state could not be read or written (database down, hung, or
    refusing). ``timed_out``: the watchdog cut a statement that ran past its deadline."""

    def __init__(self, message: str, *, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


_armed: dict[int, tuple[float, object]] = {}  # thread ident -> (deadline, connection)
_fired: set[int] = set()
_lock = threading.Lock()
_watchdog: threading.Thread | None = None


def _socket_fd(db) -> int | None:
    raw = getattr(db, "connection", None)
    pgconn = getattr(raw, "pgconn", None)
    if pgconn is None:
        return None
    try:
        fd = pgconn.socket
    except Exception:  # noqa: BLE001 - a closed connection has no socket
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


def _cut(db) -> None:
    """Shut the connection's socket down: a blocked read in another thread returns at once."""
    fd = _socket_fd(db)
    if fd is None:
        return
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


def _watch() -> None:
    while True:
        time.sleep(_POLL_SECONDS)
        if not _armed:
            continue
        now = time.monotonic()
        with _lock:  # the guarded thread disarms under the same lock: no cut after it left
            for ident, (deadline, db) in list(_armed.items()):
                if now >= deadline:
                    del _armed[ident]
                    _fired.add(ident)
                    _cut(db)


def _ensure_watchdog() -> None:
    global _watchdog
    if _watchdog is not None and _watchdog.is_alive():
        return
    with _lock:
        if _watchdog is None or not _watchdog.is_alive():
            _watchdog = threading.Thread(target=_watch, name="routing-db-watchdog", daemon=True)
            _watchdog.start()


def recover(db) -> None:
    """Drop a connection that failed, so the next statement opens a fresh one."""
    if db.in_atomic_block:
        # A caller's transaction: theirs to end. Django marks it for rollback already.
        return
    try:
        db.close()
    except Exception:  # noqa: BLE001 - it is broken; closing it is all that is left
        db.connection = None


@contextlib.contextmanager
def guarded(what: str, db=None) -> Iterator[object]:
    """Run a block of routing's database work with a deadline and self-healing (see above).

    Yields the connection wrapper. Raises StateUnavailable for any database failure.
    """
    db = db or connections[DEFAULT_DB_ALIAS]
    ident = 0
    if db.vendor == "postgresql" and threading.get_ident() not in _armed:  # outermost only
        ident = threading.get_ident()
        _armed[ident] = (time.monotonic() + settings.LLM_ROUTING_DB_TIMEOUT, db)
        if _watchdog is None:
            _ensure_watchdog()
    failure = None
    try:
        yield db
    except (DatabaseError, InterfaceError) as exc:
        timed_out = ident in _fired
        failure = StateUnavailable(
            f"{what}: the database "
            + ("did not answer in time" if timed_out else f"failed ({type(exc).__name__})"),
            timed_out=timed_out,
        )
    finally:
        if ident:
            with _lock:
                _armed.pop(ident, None)
                fired = ident in _fired
                _fired.discard(ident)
            if fired and failure is None:
                # Cut just as the block finished: the connection is unusable now.
                recover(db)
    if failure is not None:
        recover(db)
        raise failure


def call(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` inside ``guarded(what)``, tried once more on a fresh
    connection when the thread's existing one turns out to be broken.

    After an outage every thread still holds the connection it had when the database went
    away; without the retry each would fail once (and declare a new outage) before
    reconnecting. A statement retried this way may have run once already (the answer was
    lost): for routing's counters that errs high, the safe direction.
    """
    db = connections[DEFAULT_DB_ALIAS]
    reused = db.connection is not None and not db.in_atomic_block
    try:
        with guarded(what, db):
            return fn(*args, **kwargs)
    except StateUnavailable as exc:
        if not reused or exc.timed_out:
            raise
    with guarded(what, db):
        return fn(*args, **kwargs)
