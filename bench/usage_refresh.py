"""Summary refresh with 5M rows of history: incremental after 50k new rows vs full rebuild.

Target: the incremental refresh takes at most 5% of the full rebuild's time. Also shown:
an incremental refresh after 50k *late* rows (created at random times over the past 90
days, as a replayed spill would be) - it still reads only the new rows.

    .venv/bin/python bench/usage_refresh.py     # loads 5M rows on first use (~2 min)
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

sys.path.insert(0, os.path.dirname(__file__))
from _common import line, setup, timed  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", 5_000_000))
NEW = 50_000


def main() -> None:
    setup("usage_bench")
    from datagen import ensure_history, load_rows, row_count
    from django.db import connection

    from usage.summary import refresh_summary

    print(f"usage_refresh: {ROWS:,} rows of history, {NEW:,} new rows")
    ensure_history(ROWS)
    first_s, report = timed(refresh_summary)  # catch up with whatever the last run left
    line("catch-up refresh", f"{first_s:.2f} s ({report.new_rows:,} rows)")

    seed = int(datetime.now(UTC).timestamp())
    load_rows(NEW, days=1 / 24, seed=seed)  # the last hour's traffic
    incremental_s, report = timed(refresh_summary)
    line(f"incremental refresh after {NEW:,} new rows", f"{incremental_s * 1000:.0f} ms "
         f"({report.new_rows:,} rows, {report.groups:,} hour groups)")

    load_rows(NEW, days=90, seed=seed + 1)  # late rows all over the history
    late_s, report = timed(refresh_summary)
    line(f"incremental refresh after {NEW:,} late rows", f"{late_s * 1000:.0f} ms "
         f"({report.new_rows:,} rows, {report.groups:,} hour groups)")

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE model_usage_stats")
    total = row_count()
    full_s, report = timed(refresh_summary, full=True)
    line(f"full rebuild (baseline, {total:,} rows)", f"{full_s:.2f} s ({report.groups:,} groups)")
    line("ratio incremental / full (target <= 0.05)", f"{incremental_s / full_s:.3f}x")
    line("ratio late incremental / full", f"{late_s / full_s:.3f}x")


if __name__ == "__main__":
    main()
