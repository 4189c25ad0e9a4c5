"""Replaying orphaned spill files from a command (the tracker replays its own at start)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings

from usage import spill, writer
from usage.records import Record
from usage.tracker import POISON

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
    set_aside = 0

    def write(batch: list[Record]) -> int:
        # As the tracker's own replay: a record the database refuses for its data is set
        # aside for a human (refused-*.jsonl) instead of stopping the replay of every
        # record behind it; an outage still raises and leaves the file for the next run.
        nonlocal set_aside
        try:
            return writer.write_records(batch, using=using)
        except POISON:
            pass
        written = 0
        for record in batch:
            try:
                written += writer.write_records([record], using=using)
            except POISON as error:
                spill.set_aside(directory, record)
                set_aside += 1
                logger.error("usage spill: a record the database refuses was set aside (%s)",
                             type(error).__name__)
        return written

    files, records, written = spill.replay_orphans(directory, write)
    return ReplayReport(files, records, written, set_aside)
