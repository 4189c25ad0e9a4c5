"""What usage.track() costs its caller: per-call time, p50 and p99 (target: p99 < 50 us).

Each call is timed on its own with perf_counter_ns while the writer thread is busy storing
the earlier ones in PostgreSQL (it competes for the GIL, as in a real worker). Baseline in
the same run: the same loop calling a do-nothing function with the same keyword arguments,
i.e. the cost of the call and of the timing itself.

    .venv/bin/python bench/usage_caller_cost.py [calls]
"""

from __future__ import annotations

import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from _common import line, setup  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000


def percentile(sorted_ns: list[int], fraction: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(fraction * len(sorted_ns)))] / 1000


def run(fn, tenants, request_ids) -> list[int]:
    clock = time.perf_counter_ns
    spent = []
    append = spent.append
    for i in range(N):
        start = clock()
        fn(tenant_id=tenants[i % len(tenants)], provider="groq", model="llama-3.3-70b-versatile",
           status="success", request_id=request_ids[i], attempt=1, prompt_tokens=120,
           completion_tokens=80, latency_ms=350)
        append(clock() - start)
    spent.sort()
    return spent


def main() -> None:
    setup("usage_bench_ingest")
    from datagen import bench_tenants
    from django.db import connection

    import usage

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE model_usage_stats")
    tenants = [t.pk for t in bench_tenants()]
    request_ids = [uuid.uuid4() for _ in range(N)]

    def nothing(**kwargs):
        return None

    print(f"usage_caller_cost: {N:,} calls each")
    base = run(nothing, tenants, request_ids)
    usage.track(**{"tenant_id": tenants[0], "provider": "groq", "model": "x", "status": "success",
                   "request_id": uuid.uuid4(), "attempt": 1})  # start the writer thread
    usage.flush(timeout=30)
    ours = run(usage.track, tenants, request_ids)
    assert usage.flush(timeout=300) and usage.tracker_stats()["dropped"] == 0
    for label, data in (("baseline: empty function", base), ("usage.track()", ours)):
        line(f"{label} p50 / p99 / p99.9 / max (us)",
             f"{percentile(data, .5):.2f} / {percentile(data, .99):.2f} / "
             f"{percentile(data, .999):.1f} / {data[-1] / 1000:.0f}")
    line("usage.track() p99 (target < 50 us)", f"{percentile(ours, .99):.2f} us")
    line("ratio track / baseline at p50", f"{percentile(ours, .5) / percentile(base, .5):.1f}x")
    line("ratio track p99 / target 50 us", f"{percentile(ours, .99) / 50:.2f}x")
    line("rows written by the tracker meanwhile", f"{usage.tracker_stats()['written']:,}")


if __name__ == "__main__":
    main()
