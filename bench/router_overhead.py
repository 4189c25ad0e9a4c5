"""What the router adds to a call: ``complete()`` against the stub provider vs a bare
POST to the same stub, 2,000 sequential calls each (interleaved in blocks so that
drift hits both alike). Prints p50/p99 of both and of the difference, for each round and
the median over the rounds (the machine is shared: one round's p99 is mostly noise).

Like with like: the same HTTP path (``http_client.request``, the router's own), URL, key and
body; the tracker in its production (background) mode; the tenant's state row reset first,
and every routed call checked to be one attempt at the preferred provider.

Targets: added time under 0.3 ms at p50 and under 1 ms at p99. The router is measured
with its Prometheus metrics on (as in production: multiprocess mode, files in a temporary
PROMETHEUS_MULTIPROC_DIR) and off (METRICS_ENABLED=false), interleaved in the same run;
target: metrics add under 0.05 ms at p50. A third contender routes for a tenant with a hard
monthly budget (far from its limit, as most requests are): target, the budget check adds
under 0.1 ms at p50 (issue 12).

    .venv/bin/python bench/router_overhead.py [--calls 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import router_common

MESSAGES = [{"role": "user", "content": "Say hello in five words."}]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--block", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    router_common.configure_environment(fresh=True)
    metrics_dir = tempfile.TemporaryDirectory(prefix="bench-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir.name
    stub, port = router_common.start_stub()
    try:
        router_common.setup_django(migrate=True)
        run(args.calls, args.block, args.rounds, port)
    finally:
        stub.terminate()
        stub.wait(timeout=10)
        metrics_dir.cleanup()


def run(calls: int, block: int, rounds: int, port: int) -> None:
    from django.conf import settings
    from django.db import connection

    import usage
    from llm_routing import complete, http_client
    from llm_routing.models import ProviderState
    from llm_routing.stub.server import derive_good_key
    from usage.models import Budget

    # Every round sends 4,000 requests to the stub's groq: a quota and a provider-reported
    # daily limit well above that keep groq the provider measured (same SQL: a cap applies).
    tenant = router_common.make_tenant(
        "bench-overhead",
        preferred_provider="groq",
        daily_quotas={"groq": {"requests": 10_000_000}},
    )
    budgeted = router_common.make_tenant(
        "bench-budget",
        preferred_provider="groq",
        daily_quotas={"groq": {"requests": 10_000_000}},
    )
    Budget.objects.update_or_create(
        tenant=budgeted, period="month", defaults={"limit_usd": 100_000, "mode": "hard"}
    )
    router_common.configure_stub(port, "groq", daily_limit_header=1_000_000_000)
    # A DATABASE_URL run keeps rows.
    ProviderState.objects.filter(tenant__in=[tenant, budgeted]).delete()
    url = f"http://127.0.0.1:{port}/groq/v1/chat/completions"
    key = derive_good_key("groq")
    body = {"model": "llama-3.3-70b-versatile", "messages": MESSAGES, "max_tokens": 32}

    def bare() -> None:
        reply = http_client.request("POST", url, api_key=key, body=body)
        assert reply.status_code == 200
        assert json.loads(reply.content)["choices"][0]["message"]["content"]

    def routed() -> None:
        result = complete(tenant=tenant, messages=MESSAGES, max_tokens=32)
        assert result.content and result.provider == "groq" and len(result.attempts) == 1, result

    def with_budget() -> None:
        result = complete(tenant=budgeted, messages=MESSAGES, max_tokens=32)
        assert result.content and result.provider == "groq" and len(result.attempts) == 1, result

    def metrics(enabled: bool):
        def switch() -> None:
            settings.METRICS_ENABLED = enabled

        return switch

    for _ in range(100):  # warm up connections, caches, prepared statements, the price book
        bare()
        routed()
        with_budget()
    usage.flush(timeout=60)

    p = router_common.percentile
    print(
        f"database: {connection.vendor}; {calls} sequential calls each against the stub; "
        f"quota leases: LLM_ROUTING_LEASE_SIZE={settings.LLM_ROUTING_LEASE_SIZE}, "
        f"LLM_ROUTING_LEASE_SECONDS={settings.LLM_ROUTING_LEASE_SECONDS}"
    )
    added: list[tuple[float, float]] = []
    by_metrics: list[float] = []
    by_budget: list[float] = []
    statements = StateStatements()
    for number in range(1, rounds + 1):
        with connection.execute_wrapper(statements):
            timings = measure(calls, block, {
                "bare": (None, bare), "router": (metrics(True), routed),
                "no_metrics": (metrics(False), routed),
                "budget": (metrics(True), with_budget),
            })
        settings.METRICS_ENABLED = True
        no_metrics_50 = p(timings["no_metrics"], 0.5)
        bare_50, bare_99 = p(timings["bare"], 0.5), p(timings["bare"], 0.99)
        router_50, router_99 = p(timings["router"], 0.5), p(timings["router"], 0.99)
        added.append((router_50 - bare_50, router_99 - bare_99))
        by_metrics.append(router_50 - no_metrics_50)
        by_budget.append(p(timings["budget"], 0.5) - router_50)
        print(
            f"round {number}: bare p50 {bare_50:.3f} p99 {bare_99:.3f} | "
            f"router p50 {router_50:.3f} p99 {router_99:.3f} | "
            f"added p50 {added[-1][0]:.3f} p99 {added[-1][1]:.3f} ms | "
            f"ratio p50 {router_50 / bare_50:.2f}x | "
            f"metrics off p50 {no_metrics_50:.3f}, metrics add {by_metrics[-1]:.3f} ms | "
            f"budget p50 {p(timings['budget'], 0.5):.3f}, budget adds {by_budget[-1]:.3f} ms"
        )
    flushed = usage.flush(timeout=120)
    median_50 = statistics.median(a for a, _ in added)
    median_99 = statistics.median(b for _, b in added)
    print(
        f"added by router (median of {rounds} rounds)   p50 {median_50:.3f} ms (target < 0.3)   "
        f"p99 {median_99:.3f} ms (target < 1.0)"
    )
    print(
        f"added by metrics (median of {rounds} rounds, p50 on - p50 off)   "
        f"{statistics.median(by_metrics):.3f} ms (target < 0.05)"
    )
    print(
        f"added by a budget (median of {rounds} rounds, p50 with - p50 without)   "
        f"{statistics.median(by_budget):.3f} ms (target < 0.1)"
    )
    print(
        f"shared-state statements on the request path: {statements.reserve} reserve, "
        f"{statements.other} other, for {rounds * calls} routed calls"
    )
    print(f"usage rows flushed: {flushed}; tracker: {usage.tracker_stats()}")


class StateStatements:
    """Counts this thread's statements on the quota state table (the settler's are its own)."""

    def __init__(self) -> None:
        self.reserve = self.other = 0

    def __call__(self, execute, sql, params, many, context):
        if "llm_provider_state" in sql:
            if "requests_used = CASE" in sql:
                self.reserve += 1
            else:
                self.other += 1
        return execute(sql, params, many, context)


def measure(calls: int, block: int, contenders: dict) -> dict[str, list[float]]:
    """``contenders``: name -> (setup run before each of its blocks, untimed, or None; call)."""
    timings: dict[str, list[float]] = {name: [] for name in contenders}
    done = 0
    while done < calls:
        n = min(block, calls - done)
        for name, (setup, call) in contenders.items():
            if setup is not None:
                setup()
            for _ in range(n):
                started = time.perf_counter()
                call()
                timings[name].append((time.perf_counter() - started) * 1000)
        done += n
    return timings


if __name__ == "__main__":
    main()
