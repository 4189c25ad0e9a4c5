"""Synthetic usage history for the benchmarks, loaded fast with COPY.

``load_rows(n, ...)`` writes n rows into model_usage_stats in creation-time order (as a
live system would), spread over ``days`` days ending at ``end``, across the bench tenants
with a skew (tenant 0 gets about a fifth of the traffic), over a handful of models, with
realistic statuses, tokens, latencies and exact costs; half the answers are streamed (with
a time to first token), and a cancelled stream's counts are estimates. Rows are built as
COPY text in Python and streamed in chunks; ids are time-ordered UUIDs like the tracker's.

    .venv/bin/python bench/datagen.py 1000000      # adds 1M rows to the usage_bench database
"""

from __future__ import annotations

import math
import random
import sys
import time
from datetime import UTC, datetime, timedelta

TENANTS = 50
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
MODELS = (
    ("groq", "llama-3.3-70b-versatile", 0.30),
    ("groq", "llama-3.1-8b-instant", 0.20),
    ("groq", "openai/gpt-oss-120b", 0.10),
    ("groq", "qwen/qwen3-32b", 0.08),
    ("openrouter", "deepseek/deepseek-r1", 0.12),
    ("openrouter", "openai/gpt-4o-mini", 0.08),
    ("llm7", "gpt-4o-mini", 0.07),
    ("llm7", "some-unpriced-model", 0.05),
)
# (usage.statuses.Status code, weight, error_type)
STATUSES = ((1, 0.91, ""), (2, 0.04, "http_429"), (4, 0.025, "http_503"), (3, 0.01, "read_timeout"),
            (5, 0.003, "http_401"), (6, 0.002, "http_400"), (7, 0.01, "stream_cancelled"))
STREAMED = 0.5  # share of successful answers that were streamed


def bench_tenants():
    from tenants.models import Tenant

    tenants = list(Tenant.objects.filter(slug__startswith="bench-").order_by("slug"))
    if len(tenants) < TENANTS:
        for i in range(len(tenants), TENANTS):
            Tenant.objects.get_or_create(
                slug=f"bench-{i:03d}",
                defaults={"name": f"Bench tenant {i}", "timezone": ZONES[i % len(ZONES)]},
            )
        tenants = list(Tenant.objects.filter(slug__startswith="bench-").order_by("slug"))
    return tenants


def _model_table():
    from usage import pricing, writer

    ids = writer.model_ids({(p, m) for p, m, _ in MODELS}, "default")
    prices = pricing.price_book.table()
    now = datetime.now(UTC)
    table = []
    for provider, name, weight in MODELS:
        price = pricing.price_at(prices, (provider, name), now)
        table.append((ids[(provider, name)], price, weight))
    return table


def _uuid7(ms: int, rng: random.Random) -> str:
    """The tracker's id layout (usage/ids.py), from the seeded generator for speed."""
    value = (ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0x2 << 62)
    value |= rng.getrandbits(62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _weighted(choices, weights, rng, k):
    return rng.choices(choices, weights=weights, k=k)


def load_rows(n: int, *, days: float = 90.0, end: datetime | None = None, seed: int = 1,
              chunk: int = 50_000) -> float:
    """COPY n rows; returns seconds spent. Needs Django set up (bench/_common.setup)."""
    from django.db import connection

    rng = random.Random(seed)
    tenants = [str(t.pk) for t in bench_tenants()]
    tenant_weights = [20.0] + [80.0 / (len(tenants) - 1)] * (len(tenants) - 1)
    models = _model_table()
    end = end or datetime.now(UTC)
    start_ms = int((end - timedelta(days=days)).timestamp() * 1000)
    span_ms = int(days * 86_400_000)
    started = time.perf_counter()
    connection.ensure_connection()
    raw = connection.connection
    columns = ("created_at, cost_pusd, id, tenant_id, request_id, prompt_tokens, "
               "completion_tokens, latency_ms, model_id, attempt, status, cost_source, error_type, "
               "ttft_ms, tokens_estimated")
    done = 0
    statement = f"COPY model_usage_stats ({columns}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        while done < n:
            size = min(chunk, n - done)
            # Each chunk covers its own slice of time, so rows arrive in time order.
            low, high = span_ms * done // n, span_ms * (done + size) // n
            offsets = sorted(rng.randrange(low, max(high, low + 1)) for _ in range(size))
            picked_tenants = _weighted(tenants, tenant_weights, rng, size)
            picked_models = _weighted(models, [m[2] for m in models], rng, size)
            picked_status = _weighted(STATUSES, [s[1] for s in STATUSES], rng, size)
            lines = []
            for i in range(size):
                ms = start_ms + offsets[i]
                model_id, price, _ = picked_models[i]
                status, _, error = picked_status[i]
                ok = status == 1
                cancelled = status == 7
                prompt = rng.randrange(20, 4000)
                completion = rng.randrange(10, 1500) if ok or cancelled else 0
                latency = int(math.exp(rng.gauss(6.5, 0.8))) if ok else rng.randrange(5, 30_000)
                streamed = cancelled or ok and rng.random() < STREAMED
                ttft = min(int(math.exp(rng.gauss(5.5, 0.7))), latency) if streamed else "\\N"
                estimated = "t" if cancelled else "f"
                if price is None or cancelled:  # estimated counts have no cost
                    cost, source = "\\N", 0
                else:
                    cost, source = prompt * price[0] + completion * price[1], 1
                created = datetime.fromtimestamp(ms / 1000, UTC).isoformat()
                lines.append(
                    f"{created}\t{cost}\t{_uuid7(ms, rng)}\t{picked_tenants[i]}\t"
                    f"{_uuid7(ms, rng)}\t{prompt}\t{completion}\t{latency}\t{model_id}\t1\t"
                    f"{status}\t{source}\t{error}\t{ttft}\t{estimated}\n"
                )
            copy.write("".join(lines))
            done += size
    raw.commit() if not raw.autocommit else None
    return time.perf_counter() - started


def row_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM model_usage_stats")
        return cursor.fetchone()[0]


def ensure_history(n: int, *, days: float = 90.0) -> None:
    """Make the table hold at least n rows of history (loads only the shortfall)."""
    have = row_count()
    if have >= n:
        print(f"  history: {have:,} rows already loaded")
        return
    # The shortfall goes before the oldest existing row, so recent data stays recent.
    seconds = load_rows(n - have, days=days, end=datetime.now(UTC) - timedelta(hours=2))
    print(f"  history: loaded {n - have:,} rows in {seconds:.1f} s "
          f"({(n - have) / seconds:,.0f} rows/s via COPY)")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE model_usage_stats")


def summarize_brin() -> None:
    """What autovacuum's autosummarize does in a live system between bench steps."""
    from django.db import connection

    with connection.cursor() as cursor:
        for name in ("model_usage_stats_seq_brin", "model_usage_stats_created_brin"):
            cursor.execute("SELECT brin_summarize_new_values(%s::regclass)", [name])


if __name__ == "__main__":
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
    from _common import setup

    setup("usage_bench")
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    took = load_rows(count)
    print(f"loaded {count:,} rows in {took:.1f} s ({count / took:,.0f} rows/s)")
