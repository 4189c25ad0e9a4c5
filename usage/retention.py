"""Deleting old raw usage rows in small batches; summaries stay.

Batches walk ``seq`` windows (the BRIN index on ``seq`` finds each window's pages), each in
its own short transaction, so no lock is held for long and the table stays writable. Rows
the summary has not absorbed yet (``seq`` above the watermark) are never deleted, and the
cut-off is a whole UTC hour so no summarised hour is left half-backed by raw rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections, transaction
from django.utils import timezone

from usage.models import SummaryState
from usage.summary import floor_hour, summarised_through


@dataclass
class PruneReport:
    cutoff: datetime
    deleted: int
    batches: int
    kept_unsummarised: bool

    def __str__(self) -> str:
        note = " (rows not yet summarised were kept)" if self.kept_unsummarised else ""
        return (
            f"usage prune: deleted {self.deleted} rows older than {self.cutoff:%Y-%m-%d %H:%M}Z "
            f"in {self.batches} batches{note}"
        )


def prune_usage(
    *,
    older_than: timedelta,
    batch_size: int = 20_000,
    now: datetime | None = None,
    using: str = "default",
    progress: Callable[[int, int], None] | None = None,
) -> PruneReport:
    """Delete raw rows created before ``now - older_than``; ``progress(deleted, batches)``."""
    cutoff = floor_hour((now or timezone.now()) - older_than)
    connection = connections[using]
    at = connection.ops.adapt_datetimefield_value(cutoff)
    watermark = summarised_through(using)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(seq), max(seq) FROM model_usage_stats WHERE created_at < %s", [at]
        )
        low, high = cursor.fetchone()
    deleted = batches = 0
    if low is None:
        return PruneReport(cutoff, 0, 0, False)
    # Recorded first: from now on a summary rebuild must not reach back past the cut-off.
    state, _ = SummaryState.objects.using(using).get_or_create(pk=1)
    if state.pruned_before is None or state.pruned_before < cutoff:
        SummaryState.objects.using(using).filter(pk=1).update(pruned_before=cutoff)
    last = min(high, watermark)
    for window in range(low, last + 1, batch_size):
        with transaction.atomic(using=using), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM model_usage_stats WHERE seq >= %s AND seq < %s AND seq <= %s "
                "AND created_at < %s",
                [window, window + batch_size, last, at],
            )
            deleted += max(cursor.rowcount, 0)
        batches += 1
        if progress:
            progress(deleted, batches)
    return PruneReport(cutoff, deleted, batches, high > watermark)
