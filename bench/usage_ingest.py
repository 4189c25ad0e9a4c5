"""Ingest throughput: 200k records through the tracker vs raw COPY vs Django save() per row.

Raw COPY is the ceiling: the same rows, ready-made, streamed by COPY into the same table in
transactions of the tracker's batch size (USAGE_BATCH_SIZE).
The tracker's figure is from the first usage.track() call until flush() returns (caller
time + validation + pricing + COPY, all in this one process). save() per row is measured on
a smaller sample (it is the slow baseline) and reported as a rate. Target: tracker >= 0.5x
raw COPY.

    .venv/bin/python bench/usage_ingest.py [records]
"""

from __future__ import annotations

import os
import statistics
import sys
import uuid
from datetime import UTC, datetime

sys.path.insert(0, os.path.dirname(__file__))
from _common import line, setup, timed  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
SAVE_SAMPLE = 5_000
ROUNDS = 3


def truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE model_usage_stats")


def calls(tenants, n):
    models = (("groq", "llama-3.3-70b-versatile"), ("groq", "llama-3.1-8b-instant"),
              ("openrouter", "deepseek/deepseek-r1"), ("llm7", "gpt-4o-mini"))
    return [
        dict(tenant_id=tenants[i % len(tenants)], provider=models[i % 4][0], model=models[i % 4][1],
             status="success", request_id=uuid.uuid4(), attempt=1, prompt_tokens=100 + i % 500,
             completion_tokens=50 + i % 300, latency_ms=200 + i % 2000)
        for i in range(n)
    ]


def main() -> None:
    setup("usage_bench_ingest")
    from datagen import bench_tenants
    from django.conf import settings
    from django.db import connection

    import usage
    from usage import writer
    from usage.models import ModelUsageStat
    from usage.records import build

    tenants = [t.pk for t in bench_tenants()]
    work = calls(tenants, N)
    print(f"usage_ingest: {N:,} records")

    # Raw COPY of ready-made rows (ids, model ids and costs resolved beforehand).
    now = datetime.now(UTC)
    rows = writer.rows_for([build(**c, created_at=now) for c in work], "default")
    connection.ensure_connection()

    batch = settings.USAGE_BATCH_SIZE  # one transaction per batch, as the tracker does

    def copy_all():
        truncate()
        with connection.connection.cursor() as cursor:
            for start in range(0, len(rows), batch):
                with connection.connection.transaction():
                    writer._pg_copy(cursor, "model_usage_stats", rows[start : start + batch])

    # The public entry point, usage.track(**kwargs), same records, then flush().
    tracker = usage.get_tracker()

    def through_usage_track():
        truncate()
        for c in work:
            usage.track(**c)
        assert tracker.flush(timeout=300)
        assert tracker.stats()["dropped"] == 0

    # Alternate the two, several rounds: this machine is shared, so compare like with like.
    copy_times, tracker_times = [], []
    for _ in range(ROUNDS):
        copy_times.append(timed(copy_all)[0])
        tracker_times.append(timed(through_usage_track)[0])
        assert ModelUsageStat.objects.count() == N, "tracker lost or duplicated records"
    copy_rate = N / statistics.median(copy_times)
    tracker_rate = N / statistics.median(tracker_times)
    line("raw COPY (baseline), median of rounds", f"{copy_rate:,.0f} rows/s")
    line("usage.track() x N + flush(), median", f"{tracker_rate:,.0f} rows/s")
    line("  per round (COPY s / tracker s)", " ".join(
        f"{c:.2f}/{t:.2f}" for c, t in zip(copy_times, tracker_times, strict=True)))

    # Django save() per row, on a sample.
    truncate()
    sample = rows[:SAVE_SAMPLE]

    def save_each():
        for r in sample:
            ModelUsageStat(**dict(zip(writer.COLUMNS, r, strict=True))).save(force_insert=True)

    save_s, _ = timed(save_each)
    save_rate = SAVE_SAMPLE / save_s
    line(f"Django save() per row ({SAVE_SAMPLE:,} sample)", f"{save_rate:,.0f} rows/s")
    truncate()

    line("ratio tracker / raw COPY (target >= 0.5)", f"{tracker_rate / copy_rate:.2f}x")
    line("ratio tracker / save() per row", f"{tracker_rate / save_rate:.1f}x")


if __name__ == "__main__":
    main()
