"""Streams held open: 500 concurrent streaming requests through the OpenAI-compatible
endpoint on ONE uvicorn worker, the stub streaming each answer slowly (about 10 s). Prints
whether all completed, the server's memory per held stream (resident size while they are
all open minus before, over the count) and its thread count before and during (a stream
must cost a coroutine, not a thread).

Target (issue 10): all complete, no thread per stream.

    .venv/bin/python bench/gateway_streams.py [--streams 500] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import router_common


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--chunks", type=int, default=20)
    args = parser.parse_args()
    router_common.run_against_stub(run, args)


def run(args, port: int) -> None:
    import httpx
    from django.db import connection

    tenant = router_common.make_tenant(
        "bench-held", preferred_provider="groq",
        daily_quotas={"groq": {"requests": 100_000_000}},
    )
    router_common.configure_stub(
        port, "groq", daily_limit_header=1_000_000_000, stream_chunks=args.chunks,
        stream_chunk_delay=args.seconds / args.chunks,
    )
    key = router_common.api_key_for(tenant)
    server, base = router_common.start_gateway(workers=1)
    samples: list[tuple[int, int]] = []
    try:
        time.sleep(1)
        before = router_common.process_memory(server.pid)

        async def held() -> tuple[int, int]:
            limits = httpx.Limits(max_connections=args.streams + 10)
            async with httpx.AsyncClient(timeout=args.seconds * 6, limits=limits) as client:
                async def one() -> bool:
                    async with client.stream(
                        "POST", base + "/v1/chat/completions",
                        headers={"Authorization": f"Bearer {key}"},
                        json={"model": "auto", "stream": True,
                              "messages": [{"role": "user", "content": "a long story"}]},
                    ) as response:
                        lines = [line async for line in response.aiter_lines() if line]
                    if response.status_code != 200 or lines[-1] != "data: [DONE]":
                        return f"{response.status_code} {lines[-1][:150]}"
                    return True

                async def sample() -> None:
                    while True:
                        await asyncio.sleep(args.seconds / 4)
                        samples.append(router_common.process_memory(server.pid))

                sampler = asyncio.ensure_future(sample())
                results = await asyncio.gather(*(one() for _ in range(args.streams)),
                                               return_exceptions=True)
                sampler.cancel()
                failures = [repr(r)[:200] for r in results if r is not True]
                if failures:
                    from collections import Counter

                    print("failures:", Counter(failures).most_common(3))
                return sum(r is True for r in results), len(results)

        started = time.monotonic()
        complete, total = asyncio.run(held())
        took = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=20)
    peak_rss = max(s[0] for s in samples) if samples else before[0]
    peak_threads = max(s[1] for s in samples) if samples else before[1]
    print(f"database: {connection.vendor}; {args.streams} concurrent streams of ~{args.seconds:g}"
          f" s on one uvicorn worker")
    print(f"completed {complete}/{total} in {took:.1f} s | server threads before "
          f"{before[1]}, during {peak_threads} | resident {before[0] / 2**20:.1f} MiB before, "
          f"{peak_rss / 2**20:.1f} MiB at peak: "
          f"{(peak_rss - before[0]) / max(args.streams, 1) / 1024:.1f} KiB per held stream")


if __name__ == "__main__":
    main()
