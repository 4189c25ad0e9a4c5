"""Bearer keys of the OpenAI-compatible endpoint, remembered in the process for as long as
PostgreSQL says nothing about keys or tenants has changed (LISTEN/NOTIFY).

Why: reading the key on every request was one database round trip (0.25-0.35 ms on the
dev box), the largest single part of what the gateway adds to a call
(bench/gateway_overhead.py, target 1.5 ms added at p50), and a revoked key must still stop
at once in every process.

How it stays correct:
- Triggers (migration tenants 0007) run ``pg_notify('tenants_api_keys')`` whenever a key
  is revoked, changed or deleted and whenever a tenant is changed, deleted or truncated;
  PostgreSQL delivers the notification when that transaction commits.
- Each process keeps one listening connection. Before a remembered key is trusted, any
  notification already on that connection is read (a zero-timeout poll of its socket, a
  few microseconds), and any notification empties the whole cache: such changes are rare.
  So a key revoked by a committed transaction is refused by the first request that
  arrives after PostgreSQL has sent the notification (on one host, well within the time
  a new request takes to reach the server).
- A key read from the database is remembered only if no notification arrived while it
  was being read and the listener was up the whole time (a generation counter).
- While the listening connection is down (not yet connected, the database unreachable,
  a broken connection) nothing is remembered and every request reads the database, as
  before. TCP keepalives find a silently dead connection, and an entry is re-read after
  ``API_KEY_CACHE_SECONDS`` whatever happens.
- Writes in this process (a revoke, a tenant saved) empty the cache at once, before their
  transaction commits.

Only valid keys are remembered, never misses, so a new key works at once. SQLite (the
development default) has no NOTIFY: there every request reads the database, which is
in-process and cheap. ``API_KEY_CACHE=false`` turns the cache off everywhere.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

logger = logging.getLogger("tenants.key_cache")

CHANNEL = "tenants_api_keys"
_MAX_ENTRIES = 10_000
_RECONNECT_SECONDS = 2.0
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
               "keepalives_count": 3}


@dataclass
class Entry:
    """What a valid key is (``value``, the caller's) and when it was last written as used."""

    value: Any
    last_used_at: Any
    stored_at: float


class _Listener:
    """The process's listening connection and the cache it guards (one per process)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.entries: dict[str, Entry] = {}
        self.generation = 0
        self.conn: Any = None  # a psycopg Connection while listening
        self.fd = -1
        self.stopped = threading.Event()
        self._wake_r, self._wake_w = os.pipe()  # stop() wakes the thread's select at once
        self.thread = threading.Thread(target=self._run, name="key-cache-listener",
                                       daemon=True)
        self.thread.start()

    # --- the listening connection ---------------------------------------------------------
    def _connect(self) -> None:
        import psycopg

        params = dict(connections[DEFAULT_DB_ALIAS].get_connection_params())
        for name in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(name, None)
        conn = psycopg.Connection.connect(**params, **_KEEPALIVES, autocommit=True)
        conn.execute(f"LISTEN {CHANNEL}")
        with self.lock:
            # Anything remembered before LISTEN took effect may have missed a notification.
            self._clear()
            self.conn, self.fd = conn, conn.pgconn.socket

    def _down(self) -> None:
        """The connection broke: stop trusting the cache until a new one listens."""
        conn, self.conn, self.fd = self.conn, None, -1
        self._clear()
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - it is broken already
                pass

    def _run(self) -> None:
        failing = False  # said once per outage, not every retry
        while not self.stopped.is_set():
            if self.conn is None:
                try:
                    self._connect()
                except Exception as error:  # noqa: BLE001 - retried; requests read the db
                    if not failing:
                        logger.warning("key cache: cannot listen (%s); every request reads "
                                       "the database until it can", type(error).__name__)
                    failing = True
                    self.stopped.wait(_RECONNECT_SECONDS)
                    continue
                if failing:
                    logger.info("key cache: listening again")
                failing = False
            try:
                select.select([self.fd, self._wake_r], [], [], 1.0)
            except (OSError, ValueError):
                pass
            self.drain()

    def drain(self) -> None:
        """Read whatever has arrived on the listening connection; any notification (or a
        broken connection) empties the cache. Costs one zero-timeout poll when idle."""
        fd = self.fd
        if fd < 0:
            return
        try:
            ready = select.select([fd], [], [], 0)[0]
        except (OSError, ValueError):
            ready = [fd]
        if not ready:
            return
        with self.lock:
            conn = self.conn
            if conn is None:
                return
            try:
                pgconn = conn.pgconn
                pgconn.consume_input()
                changed = False
                while pgconn.notifies() is not None:
                    changed = True
                if pgconn.status != 0:  # CONNECTION_OK
                    raise OSError("the listening connection is closed")
            except Exception:  # noqa: BLE001 - psycopg.OperationalError and the like
                self._down()
                return
            if changed:
                self._clear()

    def _clear(self) -> None:
        self.generation += 1
        self.entries.clear()

    # --- the cache ------------------------------------------------------------------------
    def get(self, digest: str) -> tuple[Entry | None, int | None]:
        """(the remembered entry or None, the generation to store under or None when
        nothing may be stored now)."""
        self.drain()
        if self.conn is None:
            return None, None
        entry = self.entries.get(digest)
        if entry is not None and time.monotonic() - entry.stored_at > _max_age():
            entry = None
        return entry, self.generation

    def put(self, digest: str, generation: int, value: Any, last_used_at: Any) -> None:
        with self.lock:
            if self.conn is None or generation != self.generation:
                return  # something changed while the key was read: read it again next time
            if len(self.entries) >= _MAX_ENTRIES:
                self.entries.clear()
            self.entries[digest] = Entry(value, last_used_at, time.monotonic())


_listener: _Listener | None = None
_orphans: list[_Listener] = []
_start_lock = threading.Lock()


def _max_age() -> float:
    return float(settings.API_KEY_CACHE_SECONDS)


def enabled() -> bool:
    return bool(settings.API_KEY_CACHE) and connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


def listener() -> _Listener | None:
    """This process's listener (started on first use), or None where the cache is off."""
    global _listener
    if not enabled():
        return None
    found = _listener
    if found is not None and found.pid == os.getpid():
        return found
    with _start_lock:
        if _listener is not None and _listener.pid != os.getpid():
            # A forked child: the parent's connection must not be closed from here (libpq
            # would tell the server to end the parent's session), so it is kept unreferenced.
            _orphans.append(_listener)
            _listener = None
        if _listener is None:
            _listener = _Listener()
        return _listener


def forget() -> None:
    """Empty this process's cache (a key or tenant was written here)."""
    found = _listener
    if found is not None and found.pid == os.getpid():
        with found.lock:
            found._clear()


def stop() -> None:
    """Stop listening and forget everything (tests, a changed database)."""
    global _listener
    with _start_lock:
        found, _listener = _listener, None
    if found is not None and found.pid == os.getpid():
        found.stopped.set()
        os.write(found._wake_w, b"x")
        found.thread.join(timeout=5)
        with found.lock:
            found._down()
        os.close(found._wake_r)
        os.close(found._wake_w)


def _forget_on_write(sender: Any, **kwargs: Any) -> None:
    forget()


def connect_signals() -> None:
    """A key or tenant saved or deleted in this process empties its cache at once (other
    processes hear of it from PostgreSQL when the transaction commits)."""
    from django.db.models.signals import post_delete, post_save

    from tenants.models import Tenant, TenantAPIKey

    for model in (Tenant, TenantAPIKey):
        post_save.connect(_forget_on_write, sender=model, dispatch_uid=f"key_cache_{model}")
        post_delete.connect(_forget_on_write, sender=model,
                            dispatch_uid=f"key_cache_del_{model}")
