"""The tracker's spilling side: records to disk while the database is away, and back.

A guard thread (``usage-spill-guard``, one per tracker, beside the writer) wakes every
quarter of ``outage_spill_seconds``. While the database is away (a write failed and none
has succeeded since) or a database call has hung for half of ``outage_spill_seconds``, it
moves every buffered record to this process's fsync'd spill file (usage/spill.py), and the
batch a hung write holds too; so a SIGKILL during an outage loses at most about the last
``outage_spill_seconds`` of records. A database that answers keeps records off the disk,
unless the buffer passes 4 x ``memory_limit`` (traffic faster than the database for a long
while): then it is spilled down to 2 x.

A record leaves memory when it is written or spilled, so it is written once. The one
exception is the batch of a hung write: a copy is spilled, and if the write succeeds after
all, the replay finds those ids stored (every write is ``ON CONFLICT (id) DO NOTHING``).

Mixed into ``usage.tracker.Tracker``, whose state it shares (see ``Tracker._reset_state``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from usage import spill
from usage.records import Record

logger = logging.getLogger("usage.tracker")


class SpillGuard:
    # --- the guard thread ------------------------------------------------------------------
    def _guard(self, stop: threading.Event) -> None:
        while not stop.wait(self.outage_spill_seconds / 4):
            try:
                self._guard_once()
            except Exception:  # noqa: BLE001 - the guard must outlive any one failure
                logger.exception("usage: spill guard failed")

    def _guard_once(self) -> None:
        started = self._attempt_since
        hung = started is not None and time.monotonic() - started > self.outage_spill_seconds / 2
        if self._outage_since is not None or hung:
            self._spill_buffer(keep=0)
            if hung:
                self._spill_inflight()
        elif len(self._buffer) > 4 * self.memory_limit:
            # The database answers, but slower than the traffic for a long while.
            self._spill_buffer(keep=2 * self.memory_limit)

    def _spill_buffer(self, *, keep: int, first: Sequence[Record] = ()) -> None:
        """Spill ``first`` and the buffer down to ``keep`` records."""
        self._add("_spilling", 1)
        try:
            taken = []
            try:
                while len(self._buffer) > keep:
                    taken.append(self._buffer.popleft())
            except IndexError:  # the writer took the rest
                pass
            self._spill_records([*first, *self._records(taken)])
        finally:
            self._add("_spilling", -1)

    def _spill_records(self, records: list[Record]) -> None:
        if not records:
            return
        with self._spill_lock:
            if not self._append(records):
                # The disk refuses too: keep them in memory rather than lose them.
                self._buffer.extendleft(reversed(records))

    def _append(self, records: list[Record]) -> bool:
        """Append to this process's spill file (with ``_spill_lock`` held)."""
        try:
            self._spill_file().append(records)
        except OSError as exc:
            if not self._spill_failing:
                logger.error("usage: cannot spill %d records (%s)", len(records), exc)
                self._spill_failing = True
            return False
        self._spill_failing = False
        self._add("spilled", len(records))
        return True

    def _spill_file(self) -> spill.SpillFile:
        if self._spill is None:
            self._spill = spill.SpillFile(self.spill_dir)
        return self._spill

    # --- the batch in flight ---------------------------------------------------------------
    def _copy_starts(self) -> None:
        with self._inflight_lock:  # not while the guard checks the batch
            self._copy_started = True

    def _spill_inflight(self) -> None:
        """Spill a copy of the batch in a write that hangs. If that write succeeds after all,
        the replay finds the ids stored and writes nothing twice.

        On PostgreSQL the batch may hold raw tuples that the COPY stream checks (gives ids)
        as it reads them. Before the stream starts (a write hanging at BEGIN), the guard
        checks them in place and the stream then finds Records; once it has started, the
        guard waits until every record has its id, or two ids could be given to one."""
        batch = self._inflight
        if batch is None or self._inflight_on_disk:
            return
        with self._inflight_lock:
            if self._inflight is not batch:
                return
            if not self._copy_started:
                records = self._records(batch)
            elif any(type(item) is not Record and item is not None for item in batch):
                return  # the stream is checking them: next time
            else:
                records = [item for item in batch if item is not None]
        with self._spill_lock:
            if self._inflight is batch and not self._inflight_on_disk and self._append(records):
                self._inflight_on_disk = True

    def _settle_inflight(self) -> bool:
        """The write of ``_inflight`` ended; True if the guard spilled it meanwhile. Waits
        for a guard checking the batch in place (its ids are then the ones kept)."""
        with self._inflight_lock, self._spill_lock:
            on_disk = self._inflight_on_disk and self._inflight is self._pending
            self._inflight, self._inflight_on_disk = None, False
        return on_disk

    # --- replay ----------------------------------------------------------------------------
    def _spill_waiting(self) -> bool:
        return bool(self._claimed) or (self._spill is not None and self._spill.has_records())

    def _replay_waiting(self) -> None:
        """Replay spilled or claimed records, if any wait (at the end of every drain)."""
        if self._spill_waiting():
            self._replay(orphans=False)

    def _replay(self, *, orphans: bool) -> None:
        if orphans:
            for path in spill.orphaned_files(self.spill_dir):
                claimed = spill.claim(path)
                if claimed is not None:
                    self._claimed.append(claimed)
        if not self._spill_waiting():
            return
        with self._attempt():
            self._ensure_connection()  # fail here, cheaply, while the database is away
        with self._spill_lock:
            if self._spill is not None:
                own = self._spill.hand_over()
                if own is not None:
                    self._claimed.append(own)
        while self._claimed:
            seen, new = spill.replay_file(self._claimed[0], self._write_checked)
            self._claimed.pop(0)
            self._add("replayed", seen)
            self._add("written", new)
