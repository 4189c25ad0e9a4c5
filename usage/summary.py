"""Keeping ``model_usage_summary`` equal to an aggregate of the raw rows, incrementally.

The refresh follows ``seq`` (insertion order), not ``created_at``: a late row (a spill
replayed days later) gets a new ``seq`` and its old hour is updated by adding deltas
(``INSERT ... ON CONFLICT DO UPDATE SET x = x + excluded.x``). Work is proportional to the
rows added since the watermark.

``model_usage_day_summary`` is the same per UTC day, kept in the same transaction: deltas
of the same new rows, and a rebuild re-adds its days from the rebuilt hours. So at every
commit each day row equals the sum of that day's hour rows (the dashboard reads days for
long periods across tenants, usage/selectors.py).

The horizon: on PostgreSQL a sequence value can be taken by a transaction that commits
after a later one, so reading ``max(seq)`` could skip a row for ever. Every writer holds a
shared advisory lock for its transaction (usage/writer.py); the refresh takes it
exclusively for an instant and reads the sequence: every ``seq`` at or below that value is
then committed or rolled back. SQLite numbers rows inside its single write lock, so the
counter it reads is already such a horizon.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connections, transaction
from django.utils import timezone

from usage.aggregates import METRIC_FIELDS, aggregate_select, hour_sql
from usage.models import ModelUsageStat, ModelUsageSummary, SummaryState
from usage.writer import WRITE_LOCK_KEY


@dataclass
class RefreshReport:
    mode: str
    from_seq: int
    to_seq: int
    new_rows: int
    groups: int
    since: datetime | None

    def __str__(self) -> str:
        since = f" since {self.since:%Y-%m-%d %H:00}Z" if self.since else ""
        return (
            f"usage summary {self.mode}{since}: {self.new_rows} new rows "
            f"(seq {self.from_seq}..{self.to_seq}), {self.groups} hour groups written"
        )


def horizon(using: str = "default") -> int:
    """The highest ``seq`` below which every row is committed (or never will be)."""
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK_KEY])
            cursor.execute(
                "SELECT CASE WHEN is_called THEN last_value ELSE 0 END "
                "FROM model_usage_stats_seq_seq"
            )
        else:
            cursor.execute("SELECT value FROM usage_seq_counter WHERE id = 1")
        return int(cursor.fetchone()[0])


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return floor_hour(moment).replace(hour=0)


def day_sql(vendor: str, column: str) -> str:
    """The UTC day (midnight) a timestamp falls in, as the database stores a DateTimeField."""
    if vendor == "postgresql":
        return f"date_trunc('day', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    return f"strftime('%%Y-%%m-%%d 00:00:00', {column})"


def _upsert(cursor, vendor: str, where: str, params: list) -> int:
    metrics = ", ".join(METRIC_FIELDS)
    updates = ", ".join(f"{m} = model_usage_summary.{m} + excluded.{m}" for m in METRIC_FIELDS)
    cursor.execute(
        f"INSERT INTO model_usage_summary (tenant_id, model_id, hour, {metrics}) "
        f"SELECT tenant_id, model_id, {hour_sql(vendor)}, {aggregate_select()} "
        f"FROM model_usage_stats WHERE {where} GROUP BY 1, 2, 3 "
        f"ON CONFLICT (tenant_id, hour, model_id) DO UPDATE SET {updates}",
        params,
    )
    return max(cursor.rowcount, 0)


def _upsert_days(cursor, vendor: str, where: str, params: list) -> None:
    """Add the raw rows matching ``where`` to their UTC days (the day rollup's deltas)."""
    metrics = ", ".join(METRIC_FIELDS)
    updates = ", ".join(
        f"{m} = model_usage_day_summary.{m} + excluded.{m}" for m in METRIC_FIELDS
    )
    cursor.execute(
        f"INSERT INTO model_usage_day_summary (tenant_id, model_id, day, {metrics}) "
        f"SELECT tenant_id, model_id, {day_sql(vendor, 'created_at')}, {aggregate_select()} "
        f"FROM model_usage_stats WHERE {where} GROUP BY 1, 2, 3 "
        f"ON CONFLICT (tenant_id, day, model_id) DO UPDATE SET {updates}",
        params,
    )


def _rebuild_days(cursor, vendor: str, day) -> None:
    """Recompute every day from ``day`` (a UTC midnight) on as the sum of its summary hours."""
    metrics = ", ".join(METRIC_FIELDS)
    sums = ", ".join(f"CAST(sum({m}) AS bigint)" for m in METRIC_FIELDS)
    cursor.execute("DELETE FROM model_usage_day_summary WHERE day >= %s", [day])
    cursor.execute(
        f"INSERT INTO model_usage_day_summary (tenant_id, model_id, day, {metrics}) "
        f"SELECT tenant_id, model_id, {day_sql(vendor, 'hour')}, {sums} "
        "FROM model_usage_summary WHERE hour >= %s GROUP BY 1, 2, 3",
        [day],
    )


def _oldest_raw_hour(cursor) -> datetime | None:
    cursor.execute("SELECT min(created_at) FROM model_usage_stats")
    value = cursor.fetchone()[0]
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands back the stored text
        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return floor_hour(value)


def refresh_summary(
    *, since: datetime | None = None, full: bool = False, using: str = "default"
) -> RefreshReport:
    """Bring the summary up to date. Default: add the rows written since the last refresh.

    since: also rebuild every hour from ``since`` on from the raw rows (hours before it are
    kept). full: rebuild every hour that still has raw rows. Hours before the last prune's
    cut-off are never rebuilt (their raw rows are gone). Callers serialise runs with
    usage.locks.command_lock.
    """
    began = time.perf_counter()
    top = horizon(using)
    connection = connections[using]
    vendor = connection.vendor
    with transaction.atomic(using=using), connection.cursor() as cursor:
        state, _ = SummaryState.objects.using(using).select_for_update().get_or_create(pk=1)
        start = state.watermark
        top = max(top, start)
        mode = "full" if full else ("rebuild" if since else "incremental")
        if full:
            since = _oldest_raw_hour(cursor)
        groups = 0
        cursor.execute(
            "SELECT count(*) FROM model_usage_stats WHERE seq > %s AND seq <= %s", [start, top]
        )
        new_rows = cursor.fetchone()[0]
        if since is not None:
            # Hours whose raw rows were pruned can only keep the summary they have.
            since = max(floor_hour(since), state.pruned_before or since)
            at = connection.ops.adapt_datetimefield_value(since)
            ModelUsageSummary.objects.using(using).filter(hour__gte=since).delete()
            groups += _upsert(cursor, vendor, "created_at >= %s AND seq <= %s", [at, top])
            groups += _upsert(
                cursor, vendor, "seq > %s AND seq <= %s AND created_at < %s", [start, top, at]
            )
            # Days: from since's day on, re-add the hours just rebuilt (and the kept hours
            # before since on that day); earlier days only take the late rows' deltas.
            day = connection.ops.adapt_datetimefield_value(floor_day(since))
            _rebuild_days(cursor, vendor, day)
            _upsert_days(
                cursor, vendor, "seq > %s AND seq <= %s AND created_at < %s", [start, top, day]
            )
        elif top > start:
            groups += _upsert(cursor, vendor, "seq > %s AND seq <= %s", [start, top])
            _upsert_days(cursor, vendor, "seq > %s AND seq <= %s", [start, top])
        state.watermark = top
        state.refreshed_at = timezone.now()
        state.refresh_seconds = time.perf_counter() - began
        state.save(using=using, update_fields=["watermark", "refreshed_at", "refresh_seconds"])
    return RefreshReport(
        mode=mode, from_seq=start, to_seq=top, new_rows=new_rows, groups=groups, since=since
    )


def summarised_through(using: str = "default") -> int:
    """The watermark: rows with ``seq`` up to it are in the summary."""
    state = SummaryState.objects.using(using).filter(pk=1).first()
    return state.watermark if state else 0


def summary_lag_seconds(watermark: int, using: str = "default") -> float:
    """Age of the oldest raw row past ``watermark`` (0: the summary includes every row)."""
    oldest = (ModelUsageStat.objects.using(using).filter(seq__gt=watermark).order_by("seq")
              .values_list("created_at", flat=True).first())
    return (timezone.now() - oldest).total_seconds() if oldest else 0.0
