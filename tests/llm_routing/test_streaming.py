"""stream() / astream(): failover before the first content, StreamError after it,
cancellation, timeouts, and one usage row per attempt (issue 9)."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from llm_routing import RoutingError, StreamError, astream, stream
from llm_routing.models import ProviderState
from tests.llm_routing.conftest import usage_rows

HI = [{"role": "user", "content": "hi"}]
TEXT = "Hello from the stub provider."


# The database steps of astream run in asgiref's thread: close its connection at the end.
close_connections = sync_to_async(connections.close_all, thread_sensitive=True)


def read_all(tenant, **kwargs):
    with stream(tenant=tenant, messages=HI, **kwargs) as s:
        text = "".join(chunk.text for chunk in s)
    return s, text


def test_a_stream_delivers_text_chunks_then_the_result(make_tenant, stub_provider):
    tenant = make_tenant(preferred_provider="groq")
    with stream(tenant=tenant, messages=HI, max_tokens=32) as s:
        assert (s.provider, s.model) == ("groq", "llama-3.3-70b-versatile")
        chunks = list(s)
    assert "".join(c.text for c in chunks) == TEXT
    assert len([c for c in chunks if c.text]) == 5
    assert chunks[-1].finish_reason == "stop"
    result = s.result
    assert (result.content, result.provider, result.finish_reason) == (TEXT, "groq", "stop")
    assert result.ttft_ms is not None and result.ttft_ms <= result.latency_ms
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (1, 5)
    assert not result.tokens_estimated
    assert usage_rows(tenant) == [("groq", "success", 1)]
    sent = stub_provider.last_payload("groq")
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def test_openrouters_reported_cost_is_the_streams_cost(make_tenant, stub_provider):
    tenant = make_tenant(preferred_provider="openrouter")
    s, _ = read_all(tenant)
    assert s.result.cost_source == "provider" and s.result.cost > 0


@pytest.mark.parametrize("fault", [
    {"status": 429}, {"status": 503}, {"stream_error_after": 0}, {"stream_cut_after": 0},
    {"stream_malformed_after": 0},
])
def test_a_failure_before_the_first_content_fails_over_unseen(make_tenant, stub_provider, fault):
    stub_provider.configure("groq", **fault)
    tenant = make_tenant(preferred_provider="groq")
    s, text = read_all(tenant)
    assert text == TEXT  # one clean stream, from the next provider
    assert s.result.provider == "openrouter"
    assert [a.provider for a in s.result.attempts] == ["groq", "openrouter"]
    rows = usage_rows(tenant)
    assert [r[0] for r in rows] == ["groq", "openrouter"]
    assert rows[0][1] in ("rate_limited", "error") and rows[1][1] == "success"


@pytest.mark.parametrize("fault, status", [
    ("stream_error_after", "error"), ("stream_cut_after", "error"),
    ("stream_malformed_after", "error"),
])
def test_a_failure_after_content_is_a_stream_error_never_a_short_success(
    make_tenant, stub_provider, fault, status
):
    stub_provider.configure("groq", **{fault: 2})
    tenant = make_tenant(preferred_provider="groq")
    received = []
    with pytest.raises(StreamError) as caught:
        with stream(tenant=tenant, messages=HI) as s:
            for chunk in s:
                received.append(chunk.text)
    assert "".join(received) == "Hello from " == caught.value.received
    assert [a.provider for a in caught.value.attempts] == ["groq"]
    assert stub_provider.chat_requests("openrouter") == 0  # no second answer behind it
    assert usage_rows(tenant) == [("groq", status, 1)]


def test_a_stall_before_the_first_token_fails_over_within_the_timeout(
    make_tenant, stub_provider, settings
):
    settings.LLM_STREAM_FIRST_TOKEN_TIMEOUT = 0.5
    stub_provider.configure("groq", stream_stall_after=0, stream_stall_seconds=5)
    tenant = make_tenant(preferred_provider="groq")
    started = time.monotonic()
    s, text = read_all(tenant)
    assert text == TEXT and s.result.provider == "openrouter"
    assert time.monotonic() - started < 3
    assert usage_rows(tenant)[0][:2] == ("groq", "timeout")


def test_a_stall_after_content_fails_within_the_gap_timeout(make_tenant, stub_provider, settings):
    settings.LLM_STREAM_GAP_TIMEOUT = 0.5
    stub_provider.configure("groq", stream_stall_after=2, stream_stall_seconds=5)
    tenant = make_tenant(preferred_provider="groq")
    started = time.monotonic()
    with pytest.raises(StreamError) as caught:
        read_all(tenant)
    assert time.monotonic() - started < 3
    assert caught.value.received == "Hello from "
    assert usage_rows(tenant) == [("groq", "timeout", 1)]


def test_per_provider_timeouts_override_the_defaults(make_tenant, stub_provider, settings):
    settings.LLM_STREAM_TIMEOUTS = {"groq": {"first_token": 0.3, "gap": 0.3}}
    stub_provider.configure("groq", stream_stall_after=0, stream_stall_seconds=5)
    tenant = make_tenant(preferred_provider="groq")
    started = time.monotonic()
    s, _ = read_all(tenant)
    assert s.result.provider == "openrouter" and time.monotonic() - started < 3


def test_breaking_out_closes_upstream_at_once_and_records_a_cancelled_attempt(
    make_tenant, stub_provider
):
    stub_provider.configure("groq", stream_chunks=200, stream_chunk_delay=0.05)
    tenant = make_tenant(preferred_provider="groq")
    with stream(tenant=tenant, messages=HI) as s:
        for n, _chunk in enumerate(s, 1):
            if n == 3:
                break
        left = time.monotonic()
    deadline = time.monotonic() + 5
    while not stub_provider.streams("groq") and time.monotonic() < deadline:
        time.sleep(0.01)
    ended = stub_provider.streams("groq")[-1]
    assert ended["end"] == "client_closed"
    assert ended["ended_at"] - left < 1.0
    assert ended["chunks"] < 30
    assert usage_rows(tenant) == [("groq", "cancelled", 1)]


def test_streams_count_against_quotas_like_complete(make_tenant, stub_provider, routing_clock):
    tenant = make_tenant(preferred_provider="llm7", daily_quotas={"llm7": {"requests": 5}})
    providers = [read_all(tenant)[0].result.provider for _ in range(5)]
    assert providers == ["llm7"] * 4 + ["openrouter"]
    assert ProviderState.objects.get(tenant=tenant, provider="llm7").requests_used == 4


def test_a_429_before_the_stream_sets_the_cooldown(make_tenant, stub_provider, routing_clock):
    stub_provider.configure("groq", status=429, retry_after="30")
    tenant = make_tenant(preferred_provider="groq")
    read_all(tenant)
    read_all(tenant)
    assert stub_provider.chat_requests("groq") == 1  # resting after the first 429


def test_every_provider_failing_is_a_routing_error_at_the_with(make_tenant, stub_provider):
    for provider in ("groq", "openrouter", "llm7"):
        stub_provider.configure(provider, status=503)
    tenant = make_tenant(preferred_provider="groq")
    with pytest.raises(RoutingError) as caught:
        with stream(tenant=tenant, messages=HI):
            pytest.fail("no stream should have started")
    assert not isinstance(caught.value, StreamError)
    assert len(usage_rows(tenant)) == 4  # the last provider was tried once more


def test_streamed_tool_calls_keep_their_index_and_assemble(make_tenant, stub_provider):
    tenant = make_tenant(preferred_provider="llm7")
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    with stream(tenant=tenant, messages=HI, tools=tools) as s:
        deltas = [d for chunk in s for d in chunk.tool_calls]
    assert {d.index for d in deltas} == {0}
    call = s.result.tool_calls[0]
    assert call["function"]["name"] == "get_weather"
    assert call["function"]["arguments"] == '{"city": "Paris", "unit": "celsius"}'
    assert s.result.finish_reason == "tool_calls"


def test_without_reported_usage_the_counts_are_estimates_and_the_cost_unknown(
    make_tenant, stub_provider
):
    tenant = make_tenant(preferred_provider="llm7")
    stub_provider.configure("llm7", stream_usage=False)
    s, _ = read_all(tenant)
    assert s.result.tokens_estimated
    assert s.result.usage.completion_tokens > 0  # never 0 for a stream that produced text
    assert s.result.cost is None


@pytest.mark.django_db(transaction=True)
def test_astream_fails_over_and_streams_the_same(make_tenant, stub_provider):
    stub_provider.configure("groq", stream_error_after=0)
    tenant = make_tenant(preferred_provider="groq")

    async def go():
        async with astream(tenant=tenant, messages=HI) as s:
            text = "".join([chunk.text async for chunk in s])
        await close_connections()
        return s, text

    s, text = asyncio.run(go())
    assert text == TEXT and s.result.provider == "openrouter"
    assert [r[:2] for r in usage_rows(tenant)] == [("groq", "error"), ("openrouter", "success")]


@pytest.mark.django_db(transaction=True)
def test_astream_cancelled_by_the_caller_closes_upstream(make_tenant, stub_provider):
    stub_provider.configure("llm7", stream_chunks=200, stream_chunk_delay=0.05)
    tenant = make_tenant(preferred_provider="llm7")

    async def go():
        async with astream(tenant=tenant, messages=HI) as s:
            n = 0
            async for _chunk in s:
                n += 1
                if n == 3:
                    break
        left = time.monotonic()
        await close_connections()
        return left

    left = asyncio.run(go())
    deadline = time.monotonic() + 5
    while not stub_provider.streams("llm7") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stub_provider.streams("llm7")[-1]["end"] == "client_closed"
    assert stub_provider.streams("llm7")[-1]["ended_at"] - left < 1.0
    assert usage_rows(tenant) == [("llm7", "cancelled", 1)]
