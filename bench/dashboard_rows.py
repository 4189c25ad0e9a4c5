"""Usage rows for the dashboard benchmark, made inside PostgreSQL (generate_series).

Rows spread over ``days`` days up to now across ``tenants`` tenants (the first, the one the
benchmark opens, holds ``big_share`` of them) and the shipped catalogue's models, with
realistic status, token, latency and cost mixes. Made in the database so that 5 million rows
take a minute, not an hour; idempotent: a database that already holds enough rows is kept.
"""

from __future__ import annotations

import time

BENCH_SLUG = "bench-dashboard"


def ensure_rows(*, rows: int, tenants: int = 20, days: int = 35, big_share: float = 0.5):
    """The benchmark tenant, after making sure the ledger holds about ``rows`` rows."""
    from django.db import connection

    from llm_routing import catalogue
    from tenants.models import Tenant
    from usage.models import ModelUsageStat, ProviderModel

    if connection.vendor != "postgresql":
        raise SystemExit("dashboard_render needs PostgreSQL: set DATABASE_URL=postgres://...")
    big, _ = Tenant.objects.get_or_create(slug=BENCH_SLUG, defaults={"name": "Bench (big)"})
    others = [
        Tenant.objects.get_or_create(slug=f"{BENCH_SLUG}-{i}", defaults={"name": f"Bench {i}"})[0]
        for i in range(1, tenants)
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'model_usage_stats'")
        estimate = cursor.fetchone()[0]
    have = estimate if estimate > 0 else ModelUsageStat.objects.count()
    if have >= rows * 0.98:
        print(f"  data: {have:,} usage rows already present (kept)")
        return big
    ModelUsageStat.objects.all().delete()
    model_ids = [
        ProviderModel.objects.get_or_create(provider=provider, name=entry[0])[0].pk
        for provider, entries in catalogue.MODELS.items()
        for entry in entries
    ]
    started = time.perf_counter()
    _insert(rows, big.pk, [t.pk for t in others], big_share, model_ids, days)
    # As autovacuum would by now: statistics, and BRIN ranges summarised (unsummarised
    # ranges always "may match", which would turn the tail lookup into a full scan).
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE model_usage_stats")
    print(f"  data: {rows:,} usage rows generated in {time.perf_counter() - started:.0f} s")
    return big


def _insert(count, big_id, other_ids, big_share, model_ids, days) -> None:
    from django.db import connection

    # One statement in time order, every tenant interleaved, as a live ledger fills up
    # (the BRIN indexes depend on it). Status mix: 90% success, then 429s, timeouts, 5xx,
    # bad keys, bad requests.
    sql = """
        INSERT INTO model_usage_stats (created_at, cost_pusd, id, tenant_id, request_id,
            prompt_tokens, completion_tokens, latency_ms, model_id, attempt, status,
            cost_source, error_type)
        SELECT now() - (random() * %(days)s * interval '1 day') AS created_at,
               CASE WHEN r.s < 0.97 THEN (r.p * 150 + r.c * 600) * 1000 END,
               gen_random_uuid(),
               CASE WHEN r.t < %(big_share)s THEN %(big)s::uuid
                    ELSE (%(others)s::uuid[])[1 + floor(random() * %(n_others)s)::int] END,
               gen_random_uuid(),
               r.p, r.c, (40 + random() * random() * 6000)::int,
               (%(models)s::int[])[1 + floor(random() * %(n_models)s)::int],
               1,
               CASE WHEN r.s < 0.90 THEN 1 WHEN r.s < 0.95 THEN 2 WHEN r.s < 0.97 THEN 3
                    WHEN r.s < 0.99 THEN 4 WHEN r.s < 0.995 THEN 5 ELSE 6 END,
               CASE WHEN r.s < 0.97 THEN 1 ELSE 0 END,
               CASE WHEN r.s < 0.90 THEN '' ELSE 'http_' || (400 + floor(r.s * 100)::int) END
        FROM (SELECT random() AS s, random() AS t, (random() * 3000)::int AS p,
                     (random() * 800)::int AS c
              FROM generate_series(1, %(count)s)) AS r
        ORDER BY 1
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "days": days,
                "big": big_id,
                "big_share": big_share,
                "others": other_ids,
                "n_others": len(other_ids),
                "models": model_ids,
                "n_models": len(model_ids),
                "count": count,
            },
        )
