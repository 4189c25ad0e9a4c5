"""The tracker: ``track()`` queues a record and returns; a writer thread stores it.

Guarantees, in order of importance:
- the caller never waits on I/O and never sees an exception;
- a record is never lost while the process lives: failed writes are retried with backoff
  (0.05 s doubling to 2 s; neither ``flush()`` nor the exit shortens a backoff);
- while the database is away or a write hangs, what is in memory reaches an fsync'd spill
  file within about ``outage_spill_seconds`` (usage/spill_guard.py), so a SIGKILL loses at
  most about that much; the spill is replayed when the database answers again. While the
  database answers, nothing is spilled (short of a huge backlog);
- a record is written once: its id is fixed before the first attempt, it leaves memory when
  it is written or spilled, and every write ignores ids already stored.
At normal exit (atexit) the buffer is flushed, and whatever the database will not take in
``exit_timeout`` seconds is spilled.

Fork-safe: a child process forgets the parent's buffer (the parent writes it), and starts
its own threads and spill file on its first ``track()``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connections

from config import metrics
from usage import spill, writer
from usage.records import BadRecord, Record, normalise
from usage.spill_guard import SpillGuard

logger = logging.getLogger("usage.tracker")

_ABANDONED_AFTER_FORK: list = []  # the parent's connections: a child must never close them

POISON = writer.POISON

BACKOFF_FIRST, BACKOFF_MAX = 0.05, 2.0


def _setting(name: str, default):
    return getattr(settings, name, default)


class Tracker(SpillGuard):
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
        outage_spill_seconds: float | None = None,
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
        self.outage_spill_seconds = outage_spill_seconds or settings.USAGE_OUTAGE_SPILL_SECONDS
        self._reset_state()
        self._atexit_pid = None  # a forked child inherits the parent's hook, keyed to its pid
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: (t := ref()) and t._after_fork())

    # --- state ---------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self._buffer: deque = deque()
        self._pending: list = []  # the batch the writer is on: Records, or raw tuples on PG
        self._claimed: list[Path] = []
        self._wakeup = threading.Event()
        self._stop = threading.Event()  # ends a backoff and the guard; new at each start
        self._idle = threading.Condition()
        self._spill_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._guard_thread: threading.Thread | None = None
        self._running = False
        self._stopping = False
        self._busy = False
        self._conn = None
        self._spill: spill.SpillFile | None = None
        self.written = self.retried = self.spilled = self.dropped = self.replayed = 0
        self.batches = 0  # successful writes (a batch, or one record of a refused batch)
        self.last_flush_at: datetime | None = None
        self._outage_since: float | None = None  # monotonic: the first failure of an outage
        self._attempt_since: float | None = None  # monotonic: the current database call began
        self._inflight: list | None = None  # the batch being written right now ...
        self._inflight_on_disk = False  # ... and whether the guard has spilled it meanwhile
        self._inflight_lock = threading.Lock()  # who checks raw records in place (guard)
        self._copy_started = False  # the COPY stream reads the batch in flight (PostgreSQL)
        self._spilling = 0  # spills under way: records out of the buffer, not yet on disk
        self._spill_failing = False

    def _after_fork(self) -> None:
        if self._conn is not None:
            _ABANDONED_AFTER_FORK.append(self._conn)
        self._reset_state()

    @property
    def spill_dir(self) -> Path:
        return Path(self._spill_dir or _setting("USAGE_SPILL_DIR", "var/usage-spill"))

    @property
    def spilling(self) -> bool:
        """True during an outage: this process's writes to the ledger fail and its records
        go to the spill file (readiness, config/health.py)."""
        return self._outage_since is not None

    # --- the caller's side -----------------------------------------------------------------
    def track(self, item: tuple) -> None:
        """Queue one record (a raw argument tuple or a Record). Never blocks, no I/O."""
        buffer = self._buffer
        buffer.append(item)
        if not self._running:
            self._start()
        elif len(buffer) >= self.batch_size and not self._wakeup.is_set():
            self._wakeup.set()

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
            self._buffer or self._pending or self._claimed or self._busy or self._spilling
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
            self._guard_thread = threading.Thread(
                target=self._guard, args=(stop,), name="usage-spill-guard", daemon=True
            )
            self._thread.start()
            self._guard_thread.start()

    def _run(self, stop: threading.Event) -> None:
        backoff = 0.0
        try:
            self._replay(orphans=True)
        except Exception as exc:  # noqa: BLE001 - the database may be down at start
            backoff = self._failed(exc, backoff)
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
        try:
            while buffer and len(batch) < self.batch_size:
                batch.append(buffer.popleft())
        except IndexError:  # the guard took the rest
            pass
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

    def _drain(self, backoff: float) -> float:
        """Write what is buffered (see ``_more_wanted``); returns the backoff before the next
        attempt (0 once a write succeeded)."""
        self._busy = True
        try:
            if self._buffer or self._pending or self._spill_waiting():
                # Connect before taking a batch: a connection that hangs then holds nothing
                # the guard cannot spill.
                with self._attempt():
                    self._ensure_connection()
            while True:
                if not self._pending:
                    self._take(check=not self._postgres)
                if not self._pending:
                    self._replay_waiting()
                    return 0.0
                self._write_pending()
                self.last_flush_at = datetime.now(UTC)
                if not self._more_wanted():
                    self._replay_waiting()
                    return 0.0
        except Exception as exc:  # noqa: BLE001 - any failure is retried, never raised
            return self._failed(exc, backoff)
        finally:
            self._busy = False

    def _write_pending(self) -> None:
        """Write the pending batch; a batch refused for its data goes record by record."""
        self._copy_started = False
        self._inflight = self._pending
        try:
            written = self._write(self._pending)
        except POISON:
            # Not an outage: something in this batch the database refuses. Retrying would
            # block every record behind it, so find the culprits.
            self._close_connections()
            if self._settle_inflight():
                self._pending = []  # on disk already: the replay sets the culprits aside
            else:
                self._write_one_by_one()
            return
        self._settle_inflight()
        self._pending = []
        self._add("written", written)

    def _failed(self, exc: Exception, backoff: float) -> float:
        """A write failed: the database is away (or was, for that write). Everything in
        memory goes to the spill file now, and more follows until a write succeeds."""
        self._add("retried", 1)
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            logger.warning(
                "usage: write failed (%s); spilling to %s and retrying until the database "
                "answers", type(exc).__name__, self.spill_dir,
            )
        self._close_connections()
        on_disk = self._settle_inflight()
        pending, self._pending = self._pending, []
        self._spill_buffer(keep=0, first=[] if on_disk else self._records(pending))
        return min(max(backoff * 2, BACKOFF_FIRST), BACKOFF_MAX)

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

    def _write_checked(self, records: list[Record]) -> int:
        """Write spilled records (a replay); one the database refuses alone is set aside."""
        return writer.write_or_set_aside(
            records, self._write, self._set_aside, self._close_connections
        )

    def _set_aside(self, record: Record, reason: Exception) -> None:
        """Keep a record the database refuses in a file of its own, for a human to look at."""
        spill.set_aside(self.spill_dir, record)
        self._drop(1, reason)

    @property
    def _postgres(self) -> bool:
        return connections[self.using].vendor == "postgresql"

    @contextmanager
    def _attempt(self):
        """Time a database call, for the guard (a call that hangs is an outage too)."""
        outer = self._attempt_since is None
        if outer:
            self._attempt_since = time.monotonic()
        try:
            yield
        finally:
            if outer:
                self._attempt_since = None

    def _write(self, items: list) -> int:
        """Write ``items`` (Records or raw tuples, checked in place); returns rows new."""
        began = time.perf_counter()
        with self._attempt():
            if not self._postgres:
                written = writer.write_records(self._records(items), using=self.using)
            else:
                self._ensure_connection()
                written = writer.write_pg_raw(
                    self._conn, items, self.using, on_bad=lambda exc: self._drop(1, exc),
                    on_start=self._copy_starts,
                )
        self._add("batches", 1)
        metrics.batch_written(time.perf_counter() - began)
        if self._outage_since is not None:
            logger.warning(
                "usage: database reachable again after %.1f s; writing queued and spilled "
                "records", time.monotonic() - self._outage_since,
            )
            self._outage_since = None
        return written

    def _ensure_connection(self) -> None:
        if not self._postgres:
            connections[self.using].ensure_connection()
        elif self._conn is None or self._conn.closed:
            self._conn = writer.connect(self.using, self.connection_overrides)

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

    def _add(self, counter: str, amount: int) -> None:
        # Callers' threads (synchronous mode) and the guard count too.
        with self._count_lock:
            setattr(self, counter, getattr(self, counter) + amount)

    def _drop(self, count: int, reason: Exception) -> None:
        self._add("dropped", count)
        logger.error("usage: record dropped: %s", reason)

    # --- exit ------------------------------------------------------------------------------
    def stop(self, timeout: float) -> None:
        """Flush for up to ``timeout`` seconds, stop the threads, spill what is left."""
        self.flush(timeout)
        self._stopping = True
        self._stop.set()
        self._wakeup.set()
        for thread in (self._thread, self._guard_thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=max(timeout, 1.0))
        on_disk = self._settle_inflight()
        pending, self._pending = self._pending, []
        self._spill_buffer(keep=0, first=[] if on_disk else self._records(pending))
        self._running = False

    def _at_exit(self, pid: int) -> None:
        if pid == os.getpid() and self._running:
            self.stop(self.exit_timeout)
