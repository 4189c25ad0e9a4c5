"""Many streams at once in one process: 200 concurrent ``astream()`` calls against a stub
streaming 50 chunks each, vs the same 200 bare httpx async streams. Prints both wall
times and their ratio, and checks every routed stream completed and left its usage row.

Target (issue 9): all complete, usage rows 200/200, wall time within 1.2x of the bare run.

    .venv/bin/python bench/stream_throughput.py [--streams 200] [--chunks 50] [--delay 0.01]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import router_common

MESSAGES = [{"role": "user", "content": "Tell me a story."}]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--chunks", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.01, help="seconds between chunks")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    router_common.run_against_stub(run, args)


def run(args, port: int) -> None:
    import httpx
    from asgiref.sync import sync_to_async
    from django.conf import settings
    from django.db import connection, connections

    import usage
    from llm_routing import astream
    from llm_routing.stub.server import derive_good_key
    from usage.models import ModelUsageStat

    settings.LLM_HTTP_MAX_CONNECTIONS = args.streams + 10
    tenant = router_common.make_tenant(
        "bench-stream-many", preferred_provider="groq",
        daily_quotas={"groq": {"requests": 10_000_000}},
    )
    router_common.configure_stub(port, "groq", daily_limit_header=1_000_000_000,
                                 stream_chunks=args.chunks, stream_chunk_delay=args.delay)
    url = f"http://127.0.0.1:{port}/groq/v1/chat/completions"
    headers = {"Authorization": f"Bearer {derive_good_key('groq')}"}
    body = {"model": "llama-3.3-70b-versatile", "messages": MESSAGES, "stream": True,
            "stream_options": {"include_usage": True}}
    limits = httpx.Limits(max_connections=args.streams + 10)

    async def bare_all() -> int:
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            async def one() -> int:
                chunks = 0
                async with client.stream("POST", url, json=body, headers=headers) as r:
                    async for line in r.aiter_lines():
                        chunks += line.startswith("data: {")
                return chunks
            return sum(await asyncio.gather(*(one() for _ in range(args.streams))))

    async def routed_all() -> tuple[int, int]:
        async def one() -> int:
            async with astream(tenant=tenant, messages=MESSAGES) as s:
                n = sum([1 async for chunk in s if chunk.text])
            return n if s.result.provider == "groq" else 0
        counts = await asyncio.gather(*(one() for _ in range(args.streams)))
        await sync_to_async(connections.close_all, thread_sensitive=True)()
        return sum(counts), sum(1 for c in counts if c == args.chunks)

    print(f"database: {connection.vendor}; {args.streams} concurrent streams of "
          f"{args.chunks} chunks, {args.delay * 1000:.0f} ms apart")
    asyncio.run(routed_all())  # warm up
    asyncio.run(bare_all())
    for number in range(1, args.rounds + 1):
        usage.flush(timeout=60)
        before = ModelUsageStat.objects.filter(tenant_id=tenant.pk).count()
        started = time.perf_counter()
        asyncio.run(bare_all())
        bare = time.perf_counter() - started
        started = time.perf_counter()
        _, complete = asyncio.run(routed_all())
        routed = time.perf_counter() - started
        usage.flush(timeout=60)
        rows = ModelUsageStat.objects.filter(tenant_id=tenant.pk).count() - before
        print(f"round {number}: bare {bare:.3f} s | astream {routed:.3f} s | ratio "
              f"{routed / bare:.2f}x (target <= 1.2) | complete {complete}/{args.streams} | "
              f"usage rows {rows}/{args.streams}")


if __name__ == "__main__":
    main()
