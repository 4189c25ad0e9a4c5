"""What the router adds to a call: ``complete()`` against the stub provider vs a bare
httpx POST to the same stub, 2,000 sequential calls each (interleaved in blocks so that
drift hits both alike). Prints p50/p99 of both and of the difference.

Targets: added time under 0.3 ms at p50 and under 1 ms at p99.

    .venv/bin/python bench/router_overhead.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import time

import router_common

MESSAGES = [{"role": "user", "content": "Say hello in five words."}]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--block", type=int, default=100)
    args = parser.parse_args()

    router_common.configure_environment(fresh=True)
    stub, port = router_common.start_stub()
    try:
        router_common.setup_django(migrate=True)
        run(args.calls, args.block, port)
    finally:
        stub.terminate()
        stub.wait(timeout=10)


def run(calls: int, block: int, port: int) -> None:
    from django.db import connection

    import usage
    from llm_routing import complete, http_client
    from llm_routing.stub.server import derive_good_key

    tenant = router_common.make_tenant("bench-overhead", preferred_provider="groq")
    client = http_client.client()
    url = f"http://127.0.0.1:{port}/groq/v1/chat/completions"
    headers = {"Authorization": f"Bearer {derive_good_key('groq')}"}
    body = {"model": "llama-3.3-70b-versatile", "messages": MESSAGES, "max_tokens": 32}

    def bare() -> None:
        response = client.post(url, json=body, headers=headers)
        response.raise_for_status()
        assert response.json()["choices"][0]["message"]["content"]

    def routed() -> None:
        assert complete(tenant=tenant, messages=MESSAGES, max_tokens=32).content

    for _ in range(100):  # warm up connections, caches and the price book
        bare()
        routed()
    usage.flush(timeout=60)

    timings: dict[str, list[float]] = {"bare": [], "router": []}
    done = 0
    while done < calls:
        n = min(block, calls - done)
        for name, call in (("bare", bare), ("router", routed)):
            for _ in range(n):
                started = time.perf_counter()
                call()
                timings[name].append((time.perf_counter() - started) * 1000)
        done += n
    flushed = usage.flush(timeout=120)

    p = router_common.percentile
    bare_50, bare_99 = p(timings["bare"], 0.5), p(timings["bare"], 0.99)
    router_50, router_99 = p(timings["router"], 0.5), p(timings["router"], 0.99)
    print(f"database: {connection.vendor}; {calls} sequential calls each against the stub")
    print(f"bare httpx POST   p50 {bare_50:.3f} ms   p99 {bare_99:.3f} ms")
    print(f"router complete() p50 {router_50:.3f} ms   p99 {router_99:.3f} ms")
    print(
        f"added by router   p50 {router_50 - bare_50:.3f} ms (target < 0.3)   "
        f"p99 {router_99 - bare_99:.3f} ms (target < 1.0)"
    )
    print(f"ratio router/bare p50 {router_50 / bare_50:.2f}x   p99 {router_99 / bare_99:.2f}x")
    print(f"usage rows flushed: {flushed}; tracker: {usage.tracker_stats()}")


if __name__ == "__main__":
    main()
