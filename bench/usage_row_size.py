"""Bytes per usage row on PostgreSQL, heap plus every index (target: under 200).

Baseline in the same run: a naive row layout (the seed's: serial id, varchar provider,
model, status and cost source, numeric cost, a total_tokens column, a text error, UUID
record id with its own unique index, B-tree on (tenant_id, created_at)) holding the same
rows.

    .venv/bin/python bench/usage_row_size.py     # uses (and if needed loads) 5M rows
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _common import line, setup  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", 5_000_000))
NAIVE_ROWS = 500_000

NAIVE = """
CREATE TABLE bench_naive_usage (
  id bigserial PRIMARY KEY, record_id uuid UNIQUE, tenant_id uuid NOT NULL,
  provider varchar(32), model varchar(200), prompt_tokens integer, completion_tokens integer,
  total_tokens integer, latency_ms integer, status varchar(20), error_type text,
  cost_usd numeric(18, 12), cost_source varchar(20), request_id uuid, attempt integer,
  created_at timestamptz NOT NULL, ttft_ms integer, tokens_estimated boolean)
"""


def sizes(table: str) -> tuple[int, int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_relation_size(%s::regclass), pg_indexes_size(%s::regclass), "
            "(SELECT count(*) FROM " + table + ")",
            [table, table],
        )
        return cursor.fetchone()


def main() -> None:
    setup("usage_bench")
    from datagen import ensure_history
    from django.db import connection

    print("usage_row_size: bytes per row, heap + indexes")
    ensure_history(ROWS)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE model_usage_stats")
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
            "WHERE indrelid = 'model_usage_stats'::regclass ORDER BY 2 DESC"
        )
        indexes = cursor.fetchall()
    heap, index_total, rows = sizes("model_usage_stats")
    ours = (heap + index_total) / rows
    line("rows", f"{rows:,}")
    line("heap bytes/row", f"{heap / rows:.1f}")
    for name, size in indexes:
        line(f"  index {name}", f"{size / rows:.1f} bytes/row")
    line("TOTAL bytes/row (target < 200)", f"{ours:.1f}")

    from usage.statuses import Status

    # Status names by code (codes run 1..n): the naive layout stores the name.
    statuses = ",".join(f"'{s.label}'" for s in sorted(Status))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_naive_usage")
        cursor.execute(NAIVE)
        cursor.execute("CREATE INDEX ON bench_naive_usage (tenant_id, created_at)")
        cursor.execute(
            "INSERT INTO bench_naive_usage (record_id, tenant_id, provider, model, prompt_tokens,"
            " completion_tokens, total_tokens, latency_ms, status, error_type, cost_usd,"
            " cost_source, request_id, attempt, created_at, ttft_ms, tokens_estimated) "
            "SELECT s.id, s.tenant_id, m.provider, m.name, s.prompt_tokens, s.completion_tokens,"
            " s.prompt_tokens + s.completion_tokens, s.latency_ms,"
            f" (ARRAY[{statuses}])[s.status], s.error_type, s.cost_pusd / 1e12,"
            " (ARRAY['unknown','price_table','provider'])[s.cost_source + 1], s.request_id,"
            " s.attempt, s.created_at, s.ttft_ms, s.tokens_estimated "
            "FROM model_usage_stats s JOIN usage_provider_models m ON m.id = s.model_id "
            "ORDER BY s.seq LIMIT %s",
            [NAIVE_ROWS],
        )
        cursor.execute("VACUUM ANALYZE bench_naive_usage")
    n_heap, n_index, n_rows = sizes("bench_naive_usage")
    naive = (n_heap + n_index) / n_rows
    line("baseline: naive layout bytes/row", f"{naive:.1f} ({n_rows:,} rows)")
    line("ratio ours / naive", f"{ours / naive:.2f}x")
    line("ratio ours / target 200", f"{ours / 200:.2f}x")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_naive_usage")


if __name__ == "__main__":
    main()
