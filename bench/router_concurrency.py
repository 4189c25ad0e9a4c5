"""Routing under concurrency: 2 processes x 16 threads, mixed tenants, against the stub.

Checks two things and prints them: no usage row is lost (rows in the ledger == attempts
the workers saw), and no tenant's quota is exceeded by more than the requests in flight
(each tenant prefers LLM7 with a small daily request quota; the rest fails over).

    .venv/bin/python bench/router_concurrency.py [--processes 2 --threads 16 --calls 40]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import router_common

TENANTS = [f"bench-c-{n}" for n in range(8)]
QUOTA = 60  # LLM7 requests per tenant per day, threshold 100%
MESSAGES = [{"role": "user", "content": "One line about concurrency, please."}]


def worker(threads: int, calls: int) -> None:
    router_common.configure_environment(fresh=False)
    router_common.setup_django(migrate=False)
    from django.db import connection

    import usage
    from llm_routing import RoutingError, complete

    totals = {"calls": 0, "attempts": 0, "errors": 0}
    lock = threading.Lock()

    def run(index: int) -> None:
        attempts = errors = 0
        for n in range(calls):
            slug = TENANTS[(index + n) % len(TENANTS)]
            try:
                attempts += len(complete(tenant=slug, messages=MESSAGES, max_tokens=16).attempts)
            except RoutingError as error:
                attempts += len(error.attempts)
                errors += 1
        connection.close()
        with lock:
            totals["calls"] += calls
            totals["attempts"] += attempts
            totals["errors"] += errors

    started = time.perf_counter()
    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    totals["seconds"] = round(time.perf_counter() - started, 2)
    totals["flushed"] = usage.flush(timeout=300)
    totals["tracker"] = {k: v for k, v in usage.tracker_stats().items() if k != "last_flush_at"}
    print(json.dumps(totals))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--calls", type=int, default=40, help="per thread")
    parser.add_argument("--worker", action="store_true")
    args = parser.parse_args()
    if args.worker:
        return worker(args.threads, args.calls)

    router_common.configure_environment(fresh=True)
    stub, _ = router_common.start_stub()
    try:
        router_common.setup_django(migrate=True)
        for slug in TENANTS:
            router_common.make_tenant(
                slug,
                preferred_provider="llm7",
                failover_order=["openrouter", "groq"],
                quota_threshold=1.0,
                daily_quotas={"llm7": {"requests": QUOTA}},
            )
        from django.db import connection

        connection.close()  # the workers need the database to themselves (SQLite)
        command = [sys.executable, __file__, "--worker", "--threads", str(args.threads),
                   "--calls", str(args.calls)]
        workers = [
            subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
            for _ in range(args.processes)
        ]
        results = [json.loads(w.communicate(timeout=1800)[0].strip().splitlines()[-1])
                   for w in workers]
        report(args, results)
    finally:
        stub.terminate()
        stub.wait(timeout=10)


def report(args, results) -> None:
    from django.db.models import Count

    from tenants.models import Tenant
    from usage.models import ModelUsageStat

    in_flight = args.processes * args.threads
    attempts = sum(r["attempts"] for r in results)
    calls = sum(r["calls"] for r in results)
    seconds = max(r["seconds"] for r in results)
    ids = {t.pk: t.slug for t in Tenant.objects.filter(slug__in=TENANTS)}
    rows = ModelUsageStat.objects.filter(tenant_id__in=ids)
    print(f"{args.processes} processes x {args.threads} threads, {calls} calls over "
          f"{len(TENANTS)} tenants in {seconds:.1f} s ({calls / seconds:.0f} calls/s)")
    print(f"attempts seen by the workers: {attempts}; usage rows in the ledger: {rows.count()}; "
          f"lost: {attempts - rows.count()} (target 0)")
    per_tenant = (
        rows.filter(model__provider="llm7").values("tenant_id").annotate(n=Count("id"))
    )
    worst = 0
    for entry in per_tenant:
        over = entry["n"] - QUOTA
        worst = max(worst, over)
        print(f"  {ids[entry['tenant_id']]}: llm7 requests {entry['n']} / quota {QUOTA}"
              f" (over by {max(over, 0)})")
    print(f"largest quota overshoot: {max(worst, 0)} requests "
          f"(allowed: requests in flight, {in_flight})")
    for r in results:
        print(f"  worker: {r}")


if __name__ == "__main__":
    main()
