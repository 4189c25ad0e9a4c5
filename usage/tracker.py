"""The tracker: ``track()`` queues a record and returns; a writer thread stores it.

Guarantees, in order of importance:
- the caller never waits on I/O and never sees an exception;
- a record is never lost while the process lives: failed batches are retried with backoff
  (0.05 s doubling to 2 s; neither ``flush()`` nor the exit shortens a backoff);
  past ``memory_limit`` buffered records, the overflow goes to an fsync'd spill file
  (usage/spill.py), replayed when the database answers again;
- a record is written once: its id is fixed before the first attempt and every write
  ignores ids already stored.
At normal exit (atexit) the buffer is flushed, and whatever the database will not take in
``exit_timeout`` seconds is spilled. A SIGKILL loses only records not yet spilled.

Fork-safe: a child process forgets the parent's buffer (the parent writes it), and starts
its own writer thread and spill file on its first ``track()``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import DataError as DjangoDataError
from django.db import connections

from usage import spill, writer
from usage.records import BadRecord, Record, normalise, to_json

logger = logging.getLogger("usage.tracker")

_ABANDONED_AFTER_FORK: list = []  # the parent's connections: a child must never close them

# Errors about the data rather than the connection: retrying the same batch cannot help.
POISON = (psycopg.DataError, DjangoDataError, ValueError, UnicodeError, OverflowError)

BACKOFF_FIRST, BACKOFF_MAX = 0.05, 2.0


def _setting(name: str, default):
    return getattr(settings, name, default)


class Tracker:
    def __init__(
        self,
        *,
        using: str | None = None,
        connection_overrides: dict | None = None,
        batch_size: int | None = None,
        interval: float | None = None,
        memory_limit: int | None = None,
        spill_dir: Path | None = None,
        exit_timeout: float | None = None,
    ) -> None:
        self.using = using or _setting("USAGE_DB_ALIAS", "default")
        self.connection_overrides = dict(connection_overrides or {})
        self.batch_size = batch_size or _setting("USAGE_BATCH_SIZE", 2000)
        self.interval = interval if interval is not None else _setting("USAGE_FLUSH_INTERVAL", 0.5)
        self.memory_limit = memory_limit or _setting("USAGE_MEMORY_LIMIT", 100_000)
        self._spill_dir = spill_dir
        self.exit_timeout = (
            exit_timeout if exit_timeout is not None else _setting("USAGE_EXIT_TIMEOUT", 5.0)
        )
        self._reset_state()
        self._atexit_pid = None  # a forked child inherits the parent's hook, keyed to its pid
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: (t := ref()) and t._after_fork())

    # --- state ---------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self._buffer: deque = deque()
        self._pending: list[Record] = []
        self._claimed: list[Path] = []
        self._wakeup = threading.Event()
        self._stop = threading.Event()  # ends a backoff; new at each start
        self._idle = threading.Condition()
        self._spill_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = False
        self._stopping = False
        self._busy = False
        self._conn = None
        self._spill: spill.SpillFile | None = None
        self.written = self.retried = self.spilled = self.dropped = self.replayed = 0
        self.batches = 0  # successful writes (a batch, or one record of a refused batch)
        self.last_flush_at: datetime | None = None
        self._outage_logged = False

    def _after_fork(self) -> None:
        if self._conn is not None:
            _ABANDONED_AFTER_FORK.append(self._conn)
        self._reset_state()

    @property
    def spill_dir(self) -> Path:
        return Path(self._spill_dir or _setting("USAGE_SPILL_DIR", "var/usage-spill"))

    def _spill_file(self) -> spill.SpillFile:
        if self._spill is None:
            self._spill = spill.SpillFile(self.spill_dir)
        return self._spill

    # --- the caller's side -----------------------------------------------------------------
    def track(self, item: tuple) -> None:
        """Queue one record (a raw argument tuple or a Record). Never blocks on I/O."""
        buffer = self._buffer
        buffer.append(item)
        if not self._running:
            self._start()
        elif len(buffer) >= self.batch_size:
            if not self._wakeup.is_set():
                self._wakeup.set()
            if len(buffer) > 4 * self.memory_limit:
                # The writer is stuck (a connect timeout): bound memory from here, rarely.
                self._spill_from_caller()

    def _spill_from_caller(self) -> None:
        taken = []
        try:
            while len(self._buffer) > 2 * self.memory_limit:
                item = self._buffer.popleft()
                taken.append(item if type(item) is Record else normalise(item))
        except IndexError:
            pass
        except BadRecord as exc:
            self._drop(1, exc)
        self._spill_records(taken)

    def write_now(self, raw: tuple) -> None:
        """Synchronous mode: write in the caller's thread; on failure fall back to the queue."""
        try:
            record = normalise(raw)
        except BadRecord as exc:
            self._drop(1, exc)
            return
        try:
            self._add("written", writer.write_records([record], using=self.using))
            self.last_flush_at = datetime.now(UTC)
        except Exception as exc:  # noqa: BLE001 - never fail the caller; the queue retries
            logger.warning(
                "usage: synchronous write failed (%s); queued instead", type(exc).__name__
            )
            self.track(record)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is written; False if ``timeout`` ran out first.

        It wakes an idle writer, but never cuts a backoff short: against a dead database a
        flush makes the attempts the backoff allows, no more."""
        if not self._running and self._drained():
            return True
        if not self._running:
            self._start()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while not self._drained():
                self._wakeup.set()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(min(remaining, 0.2) if remaining is not None else 0.2)
        return True

    def stats(self) -> dict:
        return {
            "written": self.written,
            "batches": self.batches,
            "retried": self.retried,
            "spilled": self.spilled,
            "dropped": self.dropped,
            "replayed": self.replayed,
            "buffered": len(self._buffer) + len(self._pending),
            "last_flush_at": self.last_flush_at,
        }

    def _drained(self) -> bool:
        return not (
            self._buffer or self._pending or self._claimed or self._busy
            or (self._spill is not None and self._spill.has_records())
        )

    # --- the writer thread -----------------------------------------------------------------
    def _start(self) -> None:
        with self._start_lock:
            if self._running:
                return
            self._running = True
            self._stopping = False
            self._stop = stop = threading.Event()
            if self._atexit_pid != os.getpid():
                self._atexit_pid = os.getpid()
                atexit.register(self._at_exit, self._atexit_pid)
            self._thread = threading.Thread(
                target=self._run, args=(stop,), name="usage-writer", daemon=True
            )
            self._thread.start()

    def _run(self, stop: threading.Event) -> None:
        backoff = 0.0
        try:
            self._replay(orphans=True)
        except Exception as exc:  # noqa: BLE001 - the database may be down at start
            logger.warning("usage: spill replay at start failed (%s)", type(exc).__name__)
            self._add("retried", 1)
            self._close_connections()
            backoff = BACKOFF_FIRST
        while True:
            if backoff:
                # Only the exit ends a backoff early: a flush() or a full buffer would turn
                # it into a spin of connection attempts against a dead database.
                stop.wait(backoff)
                if stop.is_set():
                    break  # stop() spills what is left
            else:
                self._wakeup.wait(self.interval)
            self._wakeup.clear()
            backoff = self._drain(backoff)
            with self._idle:
                self._idle.notify_all()
            if self._stopping:
                break
        self._close_connections()

    def _take(self, check: bool = True) -> None:
        """Move a batch from the buffer to ``_pending``; ``check=False`` leaves raw tuples
        for the PostgreSQL writer, which checks them while COPY streams."""
        buffer, batch = self._buffer, []
        while buffer and len(batch) < self.batch_size:
            batch.append(buffer.popleft())
        self._pending = self._records(batch) if check else batch

    def _records(self, items: list) -> list[Record]:
        """``items`` as Records: raw tuples are checked in place (a record's id is fixed
        once); unstorable ones are dropped and counted."""
        records = []
        for i, item in enumerate(items):
            if item is None:
                continue
            if type(item) is not Record:
                try:
                    item = items[i] = normalise(item)
                except BadRecord as exc:
                    items[i] = None
                    self._drop(1, exc)
                    continue
            records.append(item)
        return records

    def _more_wanted(self) -> bool:
        """After a batch: go on at once only for a backlog (a full batch waiting), a caller
        waiting in ``flush()`` (it sets the wakeup), or the exit. Otherwise what arrived
        meanwhile waits for the next interval: under steady traffic a writer that chased
        the buffer would write a few rows at a time without pause, and every request
        thread would compete with it for the GIL and the CPU."""
        return (
            len(self._buffer) >= self.batch_size or self._wakeup.is_set() or self._stopping
        )

    def _replay_waiting(self) -> None:
        """Replay spilled or claimed records, if any wait (at the end of every drain)."""
        if self._claimed or (self._spill is not None and self._spill.has_records()):
            self._replay(orphans=False)

    def _drain(self, backoff: float) -> float:
        """Write what is buffered (see ``_more_wanted``); returns the backoff before the next
        attempt."""
        self._busy = True
        try:
            while True:
                if not self._pending:
                    self._take(check=not self._postgres)
                if not self._pending:
                    self._replay_waiting()
                    return 0.0
                try:
                    self._add("written", self._write(self._pending))
                    self._pending = []
                except POISON:
                    # Not an outage: something in this batch the database refuses. Retrying
                    # would block every record behind it, so find the culprits.
                    self._close_connections()
                    self._write_one_by_one()
                self.last_flush_at = datetime.now(UTC)
                if self._outage_logged:
                    logger.warning("usage: database reachable again; writing queued records")
                    self._outage_logged = False
                if not self._more_wanted():
                    self._replay_waiting()
                    return 0.0
        except Exception as exc:  # noqa: BLE001 - any failure is retried, never raised
            self._add("retried", 1)
            if not self._outage_logged:
                logger.warning("usage: write failed (%s); will retry", type(exc).__name__)
                self._outage_logged = True
            self._close_connections()
            self._spill_overflow()
            return min(max(backoff * 2, BACKOFF_FIRST), BACKOFF_MAX)
        finally:
            self._busy = False

    def _write_one_by_one(self) -> None:
        """Write the pending batch record by record; set aside the ones refused alone."""
        self._pending = self._records(self._pending)
        while self._pending:
            record = self._pending[0]
            try:
                self._add("written", self._write([record]))
            except POISON as exc:
                self._close_connections()
                self._set_aside(record, exc)
            self._pending.pop(0)  # an outage raises above and leaves the rest pending

    def _set_aside(self, record: Record, reason: Exception) -> None:
        """Keep a record the database refuses in a file of its own, for a human to look at."""
        path = self.spill_dir / f"refused-{spill.HOST}-{os.getpid()}.jsonl"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(to_json(record) + "\n")
        except OSError:
            pass
        self._drop(1, reason)

    @property
    def _postgres(self) -> bool:
        return connections[self.using].vendor == "postgresql"

    def _write(self, items: list) -> int:
        """Write ``items`` (Records or raw tuples, checked in place); returns rows new."""
        if not self._postgres:
            written = writer.write_records(self._records(items), using=self.using)
        else:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            written = writer.write_pg_raw(
                self._conn, items, self.using, on_bad=lambda exc: self._drop(1, exc)
            )
        self._add("batches", 1)
        return written

    def _connect(self):
        s = connections[self.using].settings_dict
        params = {
            "dbname": s["NAME"], "user": s.get("USER"), "password": s.get("PASSWORD"),
            "host": s.get("HOST"), "port": s.get("PORT"),
        }
        django_only = {"isolation_level", "pool", "server_side_binding", "assume_role", "context"}
        params.update({k: v for k, v in (s.get("OPTIONS") or {}).items() if k not in django_only})
        params.update(self.connection_overrides)
        params.setdefault("connect_timeout", 5)
        # A dead network must fail a write, not hang the writer: 15 s without an ACK aborts.
        params.setdefault("tcp_user_timeout", 15000)
        params = {k: v for k, v in params.items() if v not in (None, "")}
        return psycopg.connect(autocommit=True, **params)

    def _close_connections(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
            self._conn = None
        try:
            connections[self.using].close()
        except Exception:  # noqa: BLE001 - already broken
            pass

    # --- spilling and replay -------------------------------------------------------------
    def _spill_overflow(self) -> None:
        """Past the memory limit, move the pending batch and the buffer's excess to disk."""
        if len(self._buffer) + len(self._pending) <= self.memory_limit:
            return
        batch = self._records(self._pending)
        self._pending = []
        while len(self._buffer) > self.memory_limit // 2:
            self._take()
            batch.extend(self._pending)
            self._pending = []
        self._spill_records(batch)

    def _spill_records(self, records: list[Record]) -> None:
        if not records:
            return
        with self._spill_lock:
            try:
                self._spill_file().append(records)
                self._add("spilled", len(records))
            except OSError as exc:
                # The disk refuses too: keep them in memory rather than lose them.
                logger.error("usage: cannot spill %d records (%s)", len(records), exc)
                self._buffer.extendleft(reversed(records))

    def _replay(self, *, orphans: bool) -> None:
        with self._spill_lock:
            if self._spill is not None:
                own = self._spill.hand_over()
                if own is not None:
                    self._claimed.append(own)
        if orphans:
            for path in spill.orphaned_files(self.spill_dir):
                claimed = spill.claim(path)
                if claimed is not None:
                    self._claimed.append(claimed)
        while self._claimed:
            seen, new = spill.replay_file(self._claimed[0], self._write)
            self._claimed.pop(0)
            self._add("replayed", seen)
            self._add("written", new)

    def _add(self, counter: str, amount: int) -> None:
        # Callers' threads (synchronous mode, caller-side spills) count too.
        with self._count_lock:
            setattr(self, counter, getattr(self, counter) + amount)

    def _drop(self, count: int, reason: Exception) -> None:
        self._add("dropped", count)
        logger.error("usage: record dropped: %s", reason)

    # --- exit ------------------------------------------------------------------------------
    def stop(self, timeout: float) -> None:
        """Flush for up to ``timeout`` seconds, stop the thread, spill what is left."""
        self.flush(timeout)
        self._stopping = True
        self._stop.set()
        self._wakeup.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=max(timeout, 1.0))
        leftovers = self._records(self._pending)
        self._pending = []
        while self._buffer:
            self._take()
            leftovers.extend(self._pending)
            self._pending = []
        self._spill_records(leftovers)
        self._running = False

    def _at_exit(self, pid: int) -> None:
        if pid == os.getpid() and self._running:
            self.stop(self.exit_timeout)
