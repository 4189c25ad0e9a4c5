"""What routing adds to the time to the first token: ``stream()`` against the stub vs a
bare httpx stream to the same stub, time from the call to the first content chunk,
2,000 sequential streams each (interleaved in blocks so drift hits both alike), each read
to its end. Prints p50/p99 of both and of the difference per round, and the median over
the rounds.

Like with like: the same pooled client, URL, key and body (stream_options included); the
tracker in its production (background) mode; every routed stream checked to be one
attempt at the preferred provider.

Targets (issue 9): added p50 < 0.5 ms, p99 < 2 ms.

    .venv/bin/python bench/stream_overhead.py [--streams 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import router_common

MESSAGES = [{"role": "user", "content": "Say hello in five words."}]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--block", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    router_common.run_against_stub(run, args.streams, args.block, args.rounds)


def run(streams: int, block: int, rounds: int, port: int) -> None:
    from django.db import connection

    import usage
    from llm_routing import http_client, stream
    from llm_routing.models import ProviderState
    from llm_routing.stub.server import derive_good_key

    tenant = router_common.make_tenant(
        "bench-stream", preferred_provider="groq",
        daily_quotas={"groq": {"requests": 10_000_000}},
    )
    router_common.configure_stub(port, "groq", daily_limit_header=1_000_000_000)
    ProviderState.objects.filter(tenant=tenant).delete()
    client = http_client.client()
    url = f"http://127.0.0.1:{port}/groq/v1/chat/completions"
    headers = {"Authorization": f"Bearer {derive_good_key('groq')}",
               "Accept": "text/event-stream"}
    body = {"model": "llama-3.3-70b-versatile", "messages": MESSAGES, "max_tokens": 32,
            "stream": True, "stream_options": {"include_usage": True}}

    def bare() -> float:
        started = time.perf_counter()
        first = None
        with client.stream("POST", url, json=body, headers=headers) as response:
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                delta = json.loads(line[6:])["choices"]
                if first is None and delta and delta[0]["delta"].get("content"):
                    first = time.perf_counter()
        assert first is not None
        return (first - started) * 1000

    def routed() -> float:
        started = time.perf_counter()
        first = None
        with stream(tenant=tenant, messages=MESSAGES, max_tokens=32) as s:
            for chunk in s:
                if first is None and chunk.text:
                    first = time.perf_counter()
        assert s.result.provider == "groq" and len(s.result.attempts) == 1, s.result
        return (first - started) * 1000

    for _ in range(100):
        bare()
        routed()
    usage.flush(timeout=60)
    p = router_common.percentile
    print(f"database: {connection.vendor}; {streams} sequential streams each against the stub")
    added = []
    for number in range(1, rounds + 1):
        timings = {"bare": [], "router": []}
        done = 0
        while done < streams:
            n = min(block, streams - done)
            for name, call in (("bare", bare), ("router", routed)):
                timings[name] += [call() for _ in range(n)]
            done += n
        b50, b99 = p(timings["bare"], 0.5), p(timings["bare"], 0.99)
        r50, r99 = p(timings["router"], 0.5), p(timings["router"], 0.99)
        added.append((r50 - b50, r99 - b99))
        print(f"round {number}: time to first content: bare p50 {b50:.3f} p99 {b99:.3f} | "
              f"stream() p50 {r50:.3f} p99 {r99:.3f} | added p50 {added[-1][0]:.3f} "
              f"p99 {added[-1][1]:.3f} ms | ratio p50 {r50 / b50:.2f}x")
    usage.flush(timeout=120)
    print(f"added to the first token (median of {rounds} rounds)   "
          f"p50 {statistics.median(a for a, _ in added):.3f} ms (target < 0.5)   "
          f"p99 {statistics.median(b for _, b in added):.3f} ms (target < 2.0)")


if __name__ == "__main__":
    main()
