"""What the OpenAI-compatible endpoint adds to a call: POST /v1/chat/completions on the
README's production server (uvicorn, one worker) vs a bare httpx POST to the stub, 2,000
sequential non-streaming calls each (interleaved in blocks), then requests per second
with 2 workers and 32 concurrent clients vs the bare stub's own rate (the ceiling).

Targets (issue 10): added p50 < 1.5 ms, p99 < 5 ms.

    .venv/bin/python bench/gateway_overhead.py [--calls 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import router_common

MESSAGES = [{"role": "user", "content": "Say hello in five words."}]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--block", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--throughput-seconds", type=float, default=10.0)
    args = parser.parse_args()
    router_common.run_against_stub(run, args)


def run(args, port: int) -> None:
    import httpx
    from django.db import connection

    from llm_routing.stub.server import derive_good_key

    tenant = router_common.make_tenant(
        "bench-gateway", preferred_provider="groq",
        daily_quotas={"groq": {"requests": 100_000_000}},
    )
    router_common.configure_stub(port, "groq", daily_limit_header=1_000_000_000)
    key = router_common.api_key_for(tenant)
    stub_url = f"http://127.0.0.1:{port}/groq/v1/chat/completions"
    stub_headers = {"Authorization": f"Bearer {derive_good_key('groq')}"}
    body = {"model": "llama-3.3-70b-versatile", "messages": MESSAGES, "max_tokens": 32}
    client = httpx.Client(timeout=30)

    server, base = router_common.start_gateway(workers=1)
    try:
        url = base + "/v1/chat/completions"
        headers = {"Authorization": f"Bearer {key}"}

        def bare() -> None:
            r = client.post(stub_url, json=body, headers=stub_headers)
            assert r.status_code == 200

        def gateway() -> None:
            r = client.post(url, json={"model": "auto", "messages": MESSAGES, "max_tokens": 32},
                            headers=headers)
            assert r.status_code == 200 and r.headers["x-llm-provider"] == "groq", r.text

        for _ in range(100):
            bare()
            gateway()
        p = router_common.percentile
        print(f"database: {connection.vendor}; {args.calls} sequential calls each; "
              "gateway: uvicorn, 1 worker")
        added = []
        for number in range(1, args.rounds + 1):
            timings = {"bare": [], "gateway": []}
            done = 0
            while done < args.calls:
                n = min(args.block, args.calls - done)
                for name, call in (("bare", bare), ("gateway", gateway)):
                    for _ in range(n):
                        started = time.perf_counter()
                        call()
                        timings[name].append((time.perf_counter() - started) * 1000)
                done += n
            b50, b99 = p(timings["bare"], 0.5), p(timings["bare"], 0.99)
            g50, g99 = p(timings["gateway"], 0.5), p(timings["gateway"], 0.99)
            added.append((g50 - b50, g99 - b99))
            print(f"round {number}: bare p50 {b50:.3f} p99 {b99:.3f} | gateway p50 {g50:.3f} "
                  f"p99 {g99:.3f} | added p50 {added[-1][0]:.3f} p99 {added[-1][1]:.3f} ms")
        print(f"added by the gateway (median of {args.rounds} rounds)   "
              f"p50 {statistics.median(a for a, _ in added):.3f} ms (target < 1.5)   "
              f"p99 {statistics.median(b for _, b in added):.3f} ms (target < 5)")
    finally:
        server.terminate()
        server.wait(timeout=20)

    server, base = router_common.start_gateway(workers=2)
    try:
        rate_bare = asyncio.run(rate(stub_url, stub_headers, body, args.throughput_seconds))
        rate_gateway = asyncio.run(rate(
            base + "/v1/chat/completions", {"Authorization": f"Bearer {key}"},
            {"model": "auto", "messages": MESSAGES, "max_tokens": 32}, args.throughput_seconds,
        ))
        print(f"throughput, 32 concurrent clients: bare stub {rate_bare:.0f} req/s (the "
              f"ceiling) | gateway, 2 workers {rate_gateway:.0f} req/s "
              f"({rate_gateway / rate_bare:.2f}x of the ceiling)")
    finally:
        server.terminate()
        server.wait(timeout=20)


async def rate(url, headers, body, seconds: float, clients: int = 32) -> float:
    import httpx

    done = 0
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        async def worker() -> None:
            nonlocal done
            while time.monotonic() < stop:
                r = await client.post(url, json=body, headers=headers)
                assert r.status_code == 200, r.text
                done += 1
        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return done / (time.monotonic() - started)


if __name__ == "__main__":
    main()
