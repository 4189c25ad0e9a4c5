"""Replaying orphaned spill files from a command (the tracker replays its own at start)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings

from usage import spill, writer
from usage.records import Record

logger = logging.getLogger("usage.spill")


@dataclass
class ReplayReport:
    files: int
    records: int
    written: int
    set_aside: int = 0

    def __str__(self) -> str:
        stored = self.records - self.written - self.set_aside
        text = (
            f"usage spill: replayed {self.files} files, {self.records} records, "
            f"{self.written} new ({stored} were already stored)"
        )
        if self.set_aside:
            text += (f"; {self.set_aside} refused by the database, set aside in "
                     "refused-*.jsonl for a human")
        return text


def replay_orphaned_spill(*, directory=None, using: str = "default") -> ReplayReport:
    directory = directory or settings.USAGE_SPILL_DIR
    refused = 0

    def set_aside(record: Record, error: Exception) -> None:
        # As the tracker's own replay: a record the database refuses for its data is set
        # aside for a human (refused-*.jsonl) instead of stopping the replay of every
        # record behind it; an outage still raises and leaves the file for the next run.
        nonlocal refused
        spill.set_aside(directory, record)
        refused += 1
        logger.error("usage spill: a record the database refuses was set aside (%s)",
                     type(error).__name__)

    def write(batch: list[Record]) -> int:
        return writer.write_or_set_aside(
            batch, lambda some: writer.write_records(some, using=using), set_aside
        )

    files, records, written = spill.replay_orphans(directory, write)
    return ReplayReport(files, records, written, refused)
