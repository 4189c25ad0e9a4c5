"""Replaying orphaned spill files from a command (the tracker replays its own at start)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from usage import spill, writer


@dataclass
class ReplayReport:
    files: int
    records: int
    written: int

    def __str__(self) -> str:
        return (
            f"usage spill: replayed {self.files} files, {self.records} records, "
            f"{self.written} new ({self.records - self.written} were already stored)"
        )


def replay_orphaned_spill(*, directory=None, using: str = "default") -> ReplayReport:
    files, records, written = spill.replay_orphans(
        directory or settings.USAGE_SPILL_DIR,
        lambda batch: writer.write_records(batch, using=using),
    )
    return ReplayReport(files, records, written)
