"""Re-pricing past usage rows after a price change, the summaries kept equal to them.

A price added with an earlier ``effective_from`` (a corrected list price, a tenant's
negotiated price dated back) changes what past rows should have cost; rows are priced
when written, so ``reprice`` recomputes them: each row at the prices in force at its
``created_at`` (the tenant's own, else the list price; usage/pricing.py), read fresh from
the database, not from a process's cache. Rows whose cost the provider reported keep it.

Rows are read in batches in id order (ids are time-ordered: the primary key index serves
the walk), so a long range never sits in memory. Each batch whose costs change is one
transaction: the changed rows, then every summary hour (tenant, UTC hour) they are counted
in rebuilt from the raw rows the summary has absorbed (``seq`` up to the watermark), then
those tenants' UTC days rebuilt from their hours. The summary state row is locked first, as
the refresh locks it, so a refresh waits for the batch (or the batch for it) and at every
commit the summaries agree with the rows. A second run finds nothing to change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections, transaction

from usage import pricing
from usage.aggregates import METRIC_FIELDS, aggregate_select, hour_sql
from usage.models import CostSource, ModelUsageStat, ProviderModel, SummaryState, pico_to_usd
from usage.money import format_usd
from usage.summary import floor_day, floor_hour

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_COLUMNS = (
    "id", "tenant_id", "model_id", "created_at", "seq", "prompt_tokens", "completion_tokens",
    "cached_tokens", "reasoning_tokens", "tokens_estimated", "cost_pusd", "cost_source",
)


class RepriceRefused(ValueError):
    """The range cannot be re-priced as asked (nothing was changed)."""


@dataclass
class RepriceReport:
    start: datetime
    end: datetime
    dry_run: bool
    rows: int = 0  # rows read in the range
    repriced: int = 0  # rows whose cost or its source changed
    provider_kept: int = 0  # rows with a provider-reported cost, left as they are
    delta_pico: int = 0  # known cost after minus before, over the repriced rows
    hours: int = 0  # summary hours rebuilt
    days: int = 0  # summary days rebuilt

    def __str__(self) -> str:
        sign = "+" if self.delta_pico >= 0 else "-"
        delta = f"{sign}{format_usd(pico_to_usd(abs(self.delta_pico)))}"
        span = f"{self.start:%Y-%m-%dT%H:%M}Z..{self.end:%Y-%m-%dT%H:%M}Z"
        if self.dry_run:
            return (
                f"usage reprice {span} (dry run, nothing changed): {self.rows} rows read, "
                f"{self.repriced} would be repriced ({delta} known cost), "
                f"{self.provider_kept} provider-reported costs kept"
            )
        return (
            f"usage reprice {span}: {self.rows} rows read, {self.repriced} repriced "
            f"({delta} known cost), {self.provider_kept} provider-reported costs kept, "
            f"{self.hours} summary hours and {self.days} days rebuilt"
        )


def reprice(
    *,
    start: datetime,
    end: datetime,
    tenant_id=None,
    model_ids: list[int] | None = None,
    dry_run: bool = False,
    batch_size: int = 5000,
    using: str = "default",
    progress: Callable[[RepriceReport], None] | None = None,
) -> RepriceReport:
    """Re-price the rows created in [start, end), of ``tenant_id`` and ``model_ids`` when
    given. RepriceRefused when the range reaches before the last prune's cut-off (those
    rows are gone and their hours could not be rebuilt). Callers serialise runs with
    usage.locks.command_lock."""
    if not start < end:
        raise RepriceRefused("the range is empty: --from must be before --to")
    state = SummaryState.objects.using(using).filter(pk=1).first()
    if state and state.pruned_before and start < state.pruned_before:
        raise RepriceRefused(
            f"raw rows before {state.pruned_before:%Y-%m-%d %H:%M}Z were pruned: "
            "--from must be at or after it"
        )
    report = RepriceReport(start, end, dry_run)
    table = pricing.price_book.load(using)  # as the database has them now: no cache
    names = {
        pk: (provider, name)
        for pk, provider, name in ProviderModel.objects.using(using).values_list(
            "pk", "provider", "name"
        )
    }
    rows = ModelUsageStat.objects.using(using).filter(created_at__gte=start, created_at__lt=end)
    if tenant_id is not None:
        rows = rows.filter(tenant_id=tenant_id)
    if model_ids is not None:
        rows = rows.filter(model_id__in=model_ids)
    last = None
    while True:
        page = rows if last is None else rows.filter(id__gt=last)
        batch = list(page.order_by("id").values_list(*_COLUMNS)[:batch_size])
        if not batch:
            return report
        last = batch[-1][0]
        report.rows += len(batch)
        changed = _changes(batch, names, table, report)
        report.repriced += len(changed)
        report.delta_pico += sum((new or 0) - (row[10] or 0) for row, new, _ in changed)
        if changed and not dry_run:
            _apply(changed, report, using)
        if progress:
            progress(report)


def _changes(batch: list[tuple], names: dict, table, report: RepriceReport) -> list[tuple]:
    """(row, new cost, new source) for the rows of ``batch`` whose cost changes."""
    changed = []
    for row in batch:
        (_, tenant, model_id, created_at, _, prompt, completion, cached, reasoning,
         estimated, cost, source) = row
        if source == CostSource.PROVIDER:
            report.provider_kept += 1
            continue
        provider, model = names[model_id]
        new, new_source = pricing.cost_pico(
            provider=provider, model=model, prompt_tokens=prompt,
            completion_tokens=completion, at=created_at, tokens_estimated=estimated,
            table=table, tenant_id=tenant, cached_tokens=cached, reasoning_tokens=reasoning,
        )
        if (new, int(new_source)) != (cost, source):
            changed.append((row, new, int(new_source)))
    return changed


def _apply(changed: list[tuple], report: RepriceReport, using: str) -> None:
    connection = connections[using]
    with transaction.atomic(using=using):
        # The rows first: on SQLite this takes the write lock before the watermark is read.
        ModelUsageStat.objects.using(using).bulk_update(
            [ModelUsageStat(id=row[0], cost_pusd=new, cost_source=source)
             for row, new, source in changed],
            ["cost_pusd", "cost_source"],
            batch_size=500,
        )
        state, _ = SummaryState.objects.using(using).select_for_update().get_or_create(pk=1)
        # Rows above the watermark are not in the summary yet: the refresh adds them later,
        # with the new cost.
        hours = sorted({
            (row[1], floor_hour(row[3])) for row, _, _ in changed if row[4] <= state.watermark
        })
        with connection.cursor() as cursor:
            for tenant, hour in hours:
                _rebuild_hour(cursor, connection, tenant, hour, state.watermark)
            days = sorted({(tenant, floor_day(hour)) for tenant, hour in hours})
            for tenant, day in days:
                _rebuild_day(cursor, connection, tenant, day)
    report.hours += len(hours)
    report.days += len(days)


def _tenant_param(connection, tenant):
    """A tenant id as the database takes it (SQLite stores UUIDs as hex text)."""
    field = ModelUsageStat._meta.get_field("tenant").target_field  # type: ignore[union-attr]
    return field.get_db_prep_value(tenant, connection)


def _rebuild_hour(cursor, connection, tenant, hour: datetime, watermark: int) -> None:
    """One tenant's summary hour, again from the raw rows the summary has absorbed."""
    at = connection.ops.adapt_datetimefield_value
    tenant_id = _tenant_param(connection, tenant)
    metrics = ", ".join(METRIC_FIELDS)
    cursor.execute(
        "DELETE FROM model_usage_summary WHERE tenant_id = %s AND hour = %s",
        [tenant_id, at(hour)],
    )
    cursor.execute(
        f"INSERT INTO model_usage_summary (tenant_id, model_id, hour, {metrics}) "
        f"SELECT tenant_id, model_id, {hour_sql(connection.vendor)}, {aggregate_select()} "
        "FROM model_usage_stats WHERE tenant_id = %s AND created_at >= %s "
        "AND created_at < %s AND seq <= %s GROUP BY 1, 2, 3",
        [tenant_id, at(hour), at(hour + HOUR), watermark],
    )


def _rebuild_day(cursor, connection, tenant, day: datetime) -> None:
    """One tenant's summary day, again as the sum of its summary hours."""
    at = connection.ops.adapt_datetimefield_value
    tenant_id = _tenant_param(connection, tenant)
    metrics = ", ".join(METRIC_FIELDS)
    sums = ", ".join(f"CAST(sum({m}) AS bigint)" for m in METRIC_FIELDS)
    cursor.execute(
        "DELETE FROM model_usage_day_summary WHERE tenant_id = %s AND day = %s",
        [tenant_id, at(day)],
    )
    cursor.execute(
        f"INSERT INTO model_usage_day_summary (tenant_id, model_id, day, {metrics}) "
        f"SELECT tenant_id, model_id, %s, {sums} FROM model_usage_summary "
        "WHERE tenant_id = %s AND hour >= %s AND hour < %s GROUP BY 1, 2",
        [at(day), tenant_id, at(day), at(day + DAY)],
    )
