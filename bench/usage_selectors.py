"""Dashboard selectors with 5M usage rows: a 30-day daily time series for one tenant.

Target: under 50 ms. The tenant is the busiest one (about a fifth of all rows), read in its
own timezone, with an unsummarised tail of recent rows (as between two hourly refreshes).
Also printed: the dashboard's read across all the bench tenants for 30 UTC days with the
per-tenant totals (period_usage).
Baseline in the same run: the same figures aggregated straight from the raw rows.

    .venv/bin/python bench/usage_selectors.py     # loads 5M rows on first use (~2 min)
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, timedelta

sys.path.insert(0, os.path.dirname(__file__))
from _common import line, median_time, setup  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", 5_000_000))
TAIL = 2_500  # about an hour of this history's traffic
REPEAT = 15


def main() -> None:
    setup("usage_bench")
    from datagen import bench_tenants, ensure_history, load_rows, summarize_brin
    from django.db import connection
    from django.utils import timezone

    from usage import selectors
    from usage.aggregates import aggregate_select
    from usage.summary import refresh_summary

    print(f"usage_selectors: {ROWS:,} rows, 30-day series for the busiest tenant")
    ensure_history(ROWS)
    refresh_summary()
    summarize_brin()
    load_rows(TAIL, days=1 / 24, seed=7)  # not yet summarised
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE model_usage_stats")
        cursor.execute("ANALYZE model_usage_summary")
    tenant = bench_tenants()[0]
    today = timezone.now().astimezone(__import__("zoneinfo").ZoneInfo(tenant.timezone)).date()
    start = today - timedelta(days=29)

    def series():
        return selectors.time_series(tenants=tenant, start=start, end=today)

    points = series()
    took, times = median_time(series, REPEAT)
    line("time_series, 30 days (target < 50 ms)", f"{took * 1000:.1f} ms median, "
         f"{max(times) * 1000:.1f} ms max of {REPEAT}")
    line("  points returned / requests covered",
         f"{len(points)} / {sum(p['requests'] for p in points):,}")

    def totals():
        return selectors.totals(tenants=tenant, start=start, end=today)

    took_totals, _ = median_time(totals, REPEAT)
    line("totals per provider and model, 30 days", f"{took_totals * 1000:.1f} ms median")
    took_rates, _ = median_time(lambda: selectors.current_rates(tenants=tenant), REPEAT)
    line("current error / rate-limit rates (15 min)", f"{took_rates * 1000:.1f} ms median")
    took_24h, _ = median_time(lambda: selectors.last_24h(tenants=tenant), REPEAT)
    line("last 24 hours from raw rows", f"{took_24h * 1000:.1f} ms median")

    everyone = bench_tenants()
    now = timezone.now()
    day_start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def across_tenants():
        return selectors.period_usage(
            tenants=everyone, start=day_start - timedelta(days=29), end=now, tz="UTC",
            bucket="day", by_tenant=True,
        )

    took_all, _ = median_time(across_tenants, REPEAT)
    line(f"period_usage, all {len(everyone)} tenants, 30 UTC days", f"{took_all * 1000:.1f} ms "
         "median (with the per-tenant totals; the page's target is 300 ms)")

    first, after = selectors._period(start, today, selectors._zone(tenant, None))

    def from_raw():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT model_id, date_trunc('day', created_at AT TIME ZONE %s), "
                f"{aggregate_select()} FROM model_usage_stats WHERE tenant_id = %s "
                "AND created_at >= %s AND created_at < %s GROUP BY 1, 2",
                [tenant.timezone, tenant.pk, first, after],
            )
            return cursor.fetchall()

    took_raw, _ = median_time(from_raw, 3)
    line("baseline: same series from raw rows", f"{took_raw * 1000:.0f} ms median of 3")
    line("ratio selector / raw-row baseline", f"{took / took_raw:.3f}x")
    line("ratio selector / target 50 ms", f"{took * 1000 / 50:.2f}x")


if __name__ == "__main__":
    main()
