"""Operations snapshots: the figures the Operations screen draws as trends, stored on a
schedule (the ``snapshot_operations`` cron job) because the metrics only know "now".

Where each figure comes from:
- the metrics (config/metrics.py): the time ``track()`` costs its caller, the router's own
  time, the tracker's batch writes, summary refreshes (histograms, cumulative), cache
  lookups and tracker events (counters, cumulative), the tracker's queue depth. With
  ``PROMETHEUS_MULTIPROC_DIR`` set these are the sum over every process that wrote to that
  directory; without it only the snapshotting process's own (a cron job's: nearly nothing),
  and ``metrics_scope`` says so;
- the database: table and index sizes (usage/sizes.py), the newest ledger row (the last
  write of any process), the summary's watermark, last refresh and lag (SummaryState);
- the spill directory (this host's): spill files waiting for a replay and records the
  database refused (set aside for a human).

Counters and histograms are stored as they are; the screen takes differences between
snapshots (usage/operations_trends.py), so a trend point covers the interval before it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from config import metrics
from usage.models import ModelUsageStat, OperationsSnapshot, SummaryState
from usage.sizes import table_sizes
from usage.summary import summary_lag_seconds

FIGURES_VERSION = 1

HISTOGRAMS = {
    "track_caller_seconds": "usage_track_caller_seconds",
    "router_overhead_seconds": "llm_router_overhead_seconds",
    "batch_write_seconds": "usage_tracker_batch_write_seconds",
    "summary_refresh_seconds": "usage_summary_refresh_duration_seconds",
}
"""Snapshot key -> the metric whose buckets it keeps."""

CACHES = ("routing_view", "model_list", "decrypted_key", "api_key")
TRACKER_EVENTS = ("written", "spilled", "replayed", "dropped")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def metric_figures() -> dict[str, Any]:
    """Histograms, counters and the queue gauge, read from the metrics registry."""
    histograms: dict[str, dict[str, Any]] = {
        key: {"buckets": {}, "count": 0.0, "sum": 0.0} for key in HISTOGRAMS
    }
    by_metric = {name: key for key, name in HISTOGRAMS.items()}
    cache = {name: {"hit": 0.0, "miss": 0.0} for name in CACHES}
    tracker = dict.fromkeys(TRACKER_EVENTS, 0.0)
    queue = 0.0
    for family in metrics.families():
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, float(sample.value)
            base, _, part = name.rpartition("_")
            if base in by_metric and part in ("bucket", "count", "sum"):
                figures = histograms[by_metric[base]]
                if part == "bucket":
                    le = labels["le"]
                    figures["buckets"][le] = figures["buckets"].get(le, 0.0) + value
                else:
                    figures[part] += value
            elif name == "llm_cache_lookups_total" and labels.get("cache") in cache:
                cache[labels["cache"]][labels["result"]] += value
            elif name == "usage_tracker_records_total" and labels.get("event") in tracker:
                tracker[labels["event"]] += value
            elif name == "usage_tracker_queue_depth":
                queue += value
    for figures in histograms.values():
        # [[upper bound as text ("+Inf" is no JSON number), cumulative count], ...]
        figures["buckets"] = sorted(
            ([le, count] for le, count in figures["buckets"].items()),
            key=lambda pair: float(pair[0]),
        )
    return {
        "metrics_scope": "all processes" if metrics.MULTIPROCESS else "this process only",
        "histograms": histograms,
        "cache": cache,
        "tracker": tracker,
        "queue_depth": queue,
    }


def database_figures(using: str = "default") -> dict[str, Any]:
    sizes = table_sizes(using)
    state = SummaryState.objects.using(using).filter(pk=1).first()
    watermark = state.watermark if state else 0
    rows = ModelUsageStat.objects.using(using)
    # The newest row by insertion order: past the watermark the seq index (BRIN on
    # PostgreSQL) narrows the search to recent pages.
    newest = (
        rows.filter(seq__gte=watermark).order_by("-seq").values_list("created_at", flat=True)
        .first()
    ) or rows.order_by("-seq").values_list("created_at", flat=True).first()
    return {
        "sizes": {
            "method": sizes.method,
            "tables": {
                s.table: {"table": s.table_bytes, "indexes": s.index_bytes} for s in sizes.tables
            },
        },
        "ledger": {"last_write_at": _iso(newest)},
        "summary": {
            "watermark": watermark,
            "refreshed_at": _iso(state.refreshed_at if state else None),
            "refresh_seconds": state.refresh_seconds if state else None,
            "lag_seconds": summary_lag_seconds(watermark, using),
        },
    }


def spill_figures(directory: Path | None = None) -> dict[str, Any]:
    """Spill files waiting (a live process's own file and orphans alike) and the records
    set aside as refused, in this host's spill directory."""
    directory = Path(directory or settings.USAGE_SPILL_DIR)
    waiting = waiting_bytes = refused = 0
    if directory.is_dir():
        for path in directory.iterdir():
            try:
                if path.name.startswith(("usage-", "replaying-")):
                    waiting += 1
                    waiting_bytes += path.stat().st_size
                elif path.name.startswith("refused-"):
                    with open(path, "rb") as handle:
                        refused += sum(1 for _ in handle)
            except OSError:  # replayed and removed meanwhile
                continue
    return {
        "directory": str(directory),
        "host": os.uname().nodename,
        "files_waiting": waiting,
        "bytes_waiting": waiting_bytes,
        "refused_records": refused,
    }


def collect_figures(using: str = "default") -> dict[str, Any]:
    return {
        "version": FIGURES_VERSION,
        **metric_figures(),
        **database_figures(using),
        "spill": spill_figures(),
    }


@dataclass(frozen=True)
class SnapshotReport:
    taken_at: datetime
    replaced: bool
    pruned: int
    figures: dict[str, Any]

    def __str__(self) -> str:
        tables = self.figures["sizes"]["tables"]
        ledger = sum(tables.get("model_usage_stats", {}).values())
        summaries = sum(
            sum(tables.get(name, {}).values())
            for name in ("model_usage_summary", "model_usage_day_summary")
        )
        spill = self.figures["spill"]
        what = "replaced" if self.replaced else "taken"
        return (
            f"operations snapshot {what} at {self.taken_at:%Y-%m-%d %H:%M}Z: ledger "
            f"{ledger} bytes, summaries {summaries} bytes ({self.figures['sizes']['method']}), "
            f"{spill['files_waiting']} spill files waiting, {spill['refused_records']} refused "
            f"records, metrics of {self.figures['metrics_scope']}; {self.pruned} snapshots "
            "older than the retention deleted"
        )


def take_snapshot(*, now: datetime | None = None, using: str = "default") -> SnapshotReport:
    """Store the figures as the snapshot of this minute (replacing one taken earlier in the
    same minute: running twice is harmless) and delete snapshots past the retention."""
    now = now or timezone.now()
    minute = now.replace(second=0, microsecond=0)
    figures = collect_figures(using)
    _, created = OperationsSnapshot.objects.using(using).update_or_create(
        taken_at=minute, defaults={"figures": figures}
    )
    pruned = prune_snapshots(now=now, using=using)
    return SnapshotReport(minute, not created, pruned, figures)


def prune_snapshots(*, now: datetime | None = None, using: str = "default") -> int:
    cutoff = (now or timezone.now()) - timedelta(days=settings.OPS_SNAPSHOT_RETENTION_DAYS)
    deleted, _ = OperationsSnapshot.objects.using(using).filter(taken_at__lt=cutoff).delete()
    return deleted
