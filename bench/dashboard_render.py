"""Server time of the usage dashboard's 30-day view with 5 million usage rows (PostgreSQL).

Target: under 300 ms of server time, for one tenant's view and for the superuser's view
across all tenants (with its per-tenant table). The figures are printed as ratios against a
baseline measured in the same run: the busiest tenant's key management screen, which goes
through the same admin chrome, session, authentication and tenant lookup but reads no
usage. One tenant is timed twice: the busiest (UTC, so its whole days come from the day
rows) and one in Asia/Tokyo (local days are not UTC days: hourly rows only). Also printed
for context: the raw-rows aggregation the summary saves (what a dashboard reading
model_usage_stats directly would pay).

The summary is refreshed first, then about an hour of new rows is added and left
unsummarised, as between two hourly refreshes: every view also reads that raw tail.

Each page is requested in-process through Django's full middleware stack (the test
client), so the time is the server's: no network, no browser.

    .venv/bin/python bench/dashboard_render.py [--rows 5000000] [--repeat 20]

The rows come from the usage ledger's generator (bench/datagen.py) into a PostgreSQL
database of this script's own (``dashboard_bench`` on BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432), created when missing and kept between runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

DATABASE = "dashboard_bench"
TARGET_MS = 300.0
TAIL = 7_000  # about an hour of this history's traffic (5M rows over 30 days)


def configure_environment() -> None:
    # DEBUG off (Django would keep every query in memory), production-like otherwise, but
    # plain HTTP for the in-process client.
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 50)
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    if "FIELD_ENCRYPTION_KEYS" not in os.environ:
        from cryptography.fernet import Fernet

        os.environ["FIELD_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()


def timed(fn, repeat: int) -> list[float]:
    for _ in range(3):  # warm caches and connections the way a running server has them
        fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    p95 = sorted(samples)[max(0, round(len(samples) * 0.95) - 1)]
    return f"median {statistics.median(samples):7.1f} ms, p95 {p95:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    configure_environment()
    import datagen  # the usage ledger's generator (issue 3), loaded with COPY
    from _common import setup

    setup(DATABASE)
    # All the history inside the 30 days, the worst case for the 30-day view.
    datagen.ensure_history(args.rows, days=30)
    from django.core.management import call_command
    from django.db import connection

    call_command("refresh_usage_summary", verbosity=0, stdout=open(os.devnull, "w"))
    with connection.cursor() as cursor:  # what autovacuum does after a big refresh
        cursor.execute("VACUUM ANALYZE model_usage_summary")
        cursor.execute("VACUUM ANALYZE model_usage_day_summary")
    datagen.summarize_brin()
    datagen.load_rows(TAIL, days=1 / 24, seed=int(time.time()))  # the unsummarised tail
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE model_usage_stats")
    tenants = datagen.bench_tenants()
    tokyo = next(t for t in tenants if t.timezone == "Asia/Tokyo")
    run(tenants[0], tokyo, args.repeat)  # the busiest tenant, and one off UTC


def run(tenant, other, repeat: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from usage.models import ModelUsageStat
    from usage.summary import summarised_through

    user, _ = get_user_model().objects.get_or_create(
        username="bench-dashboard", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)

    def get(url, **params):
        def request():
            response = client.get(url, params)
            assert response.status_code == 200, response.status_code

        return request

    since = timezone.now() - timezone.timedelta(days=30)
    total = ModelUsageStat.objects.count()
    in_window = ModelUsageStat.objects.filter(tenant=tenant, created_at__gte=since).count()
    tail = ModelUsageStat.objects.filter(seq__gt=summarised_through()).count()

    baseline = timed(get(reverse("screens:keys", args=[tenant.pk])), repeat)
    tenant_view = timed(get(reverse("screens:usage", args=[tenant.pk]), period="30d"), repeat)
    other_view = timed(get(reverse("screens:usage", args=[other.pk]), period="30d"), repeat)
    all_view = timed(get(reverse("screens:usage_all"), period="30d"), repeat)

    def raw_scan():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT model_id, date_trunc('day', created_at), status, count(*), "
                "sum(prompt_tokens), sum(completion_tokens), sum(cost_pusd), "
                "percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) "
                "FROM model_usage_stats WHERE tenant_id = %s AND created_at >= %s "
                "GROUP BY 1, 2, 3",
                [tenant.pk, since],
            )
            cursor.fetchall()

    raw = timed(raw_scan, max(3, repeat // 5))

    base = statistics.median(baseline)

    def verdict(samples):
        figure = statistics.median(samples)
        return (f"{figure:.1f} ms = {figure / base:.1f}x the baseline, "
                f"{figure / TARGET_MS:.2f}x the {TARGET_MS:.0f} ms target: "
                f"{'OK' if figure < TARGET_MS else 'OVER TARGET'}")

    print(f"dashboard_render: {total:,} usage rows ({tail:,} not yet summarised); "
          f"the busiest tenant has {in_window:,} in the 30 days")
    print(f"  baseline: key screen, same chrome, no usage reads   {summary(baseline)}")
    for label, samples in (
        (f"30-day dashboard, busiest tenant ({tenant.timezone})", tenant_view),
        (f"30-day dashboard, a tenant in {other.timezone}", other_view),
        ("30-day dashboard, all tenants (superuser)", all_view),
        ("raw-rows aggregation the summary avoids (SQL only)", raw),
    ):
        print(f"  {label:<51} {summary(samples)}")
    print(f"  => one tenant:  {verdict(tenant_view)}")
    print(f"  => off UTC:     {verdict(other_view)}")
    print(f"  => all tenants: {verdict(all_view)}")
    print(f"     (raw aggregation {statistics.median(raw) / base:.1f}x the baseline)")


if __name__ == "__main__":
    main()
