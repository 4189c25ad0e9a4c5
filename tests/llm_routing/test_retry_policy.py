"""A tenant with one provider survives a blip: the last candidate left is retried once
after a short Retry-After or a single 5xx; a context-length 400 moves on to a model with
a larger window; other 400s stop (issue 9, acceptance 1). Streams and complete() alike."""

import pytest

from llm_routing import RoutingError, complete, stream
from tests.llm_routing.conftest import usage_rows

HI = [{"role": "user", "content": "hi"}]


def call(tenant, streaming):
    if not streaming:
        return complete(tenant=tenant, messages=HI)
    with stream(tenant=tenant, messages=HI) as s:
        list(s)
    return s.result


@pytest.mark.parametrize("streaming", [False, True])
def test_a_short_retry_after_429_is_retried_once_on_the_only_provider(
    make_tenant, stub_provider, routing_clock, streaming
):
    tenant = make_tenant(keys=("llm7",), preferred_provider="llm7")
    stub_provider.enqueue("llm7", 429, {"retry-after": "1"}, {"error": {"message": "slow"}})
    before = routing_clock()
    result = call(tenant, streaming)
    assert result.provider == "llm7"
    assert [a.outcome for a in result.attempts] == ["rate_limited", "success"]
    assert (routing_clock() - before).total_seconds() >= 1  # it waited the advertised second
    assert [row[1:] for row in usage_rows(tenant)] == [("rate_limited", 1), ("success", 2)]


@pytest.mark.parametrize("streaming", [False, True])
def test_a_single_503_is_retried_once_and_served_there(make_tenant, stub_provider, streaming):
    tenant = make_tenant(keys=("llm7",), preferred_provider="llm7")
    stub_provider.enqueue("llm7", 503, {}, {"error": {"message": "blip"}})
    result = call(tenant, streaming)
    assert [a.outcome for a in result.attempts] == ["error", "success"]
    assert stub_provider.chat_requests("llm7") == 2


def test_a_long_retry_after_is_not_waited_for(make_tenant, stub_provider, routing_clock):
    tenant = make_tenant(keys=("llm7",), preferred_provider="llm7")
    stub_provider.enqueue("llm7", 429, {"retry-after": "30"}, {"error": {"message": "slow"}})
    with pytest.raises(RoutingError):
        complete(tenant=tenant, messages=HI)
    assert stub_provider.chat_requests("llm7") == 1


def test_with_other_candidates_a_503_fails_over_at_once(make_tenant, stub_provider):
    tenant = make_tenant(preferred_provider="groq")
    stub_provider.enqueue("groq", 503, {}, {"error": {"message": "blip"}})
    result = complete(tenant=tenant, messages=HI)
    assert [a.provider for a in result.attempts] == ["groq", "openrouter"]


def test_a_second_failure_on_the_retry_is_the_end(make_tenant, stub_provider):
    tenant = make_tenant(keys=("llm7",), preferred_provider="llm7")
    stub_provider.configure("llm7", status=502)
    with pytest.raises(RoutingError) as caught:
        complete(tenant=tenant, messages=HI)
    assert len(caught.value.attempts) == 2


CONTEXT_400 = {"error": {"message": "This model's maximum context length is 32768 tokens",
                         "code": "context_length_exceeded"}}


@pytest.mark.parametrize("streaming", [False, True])
def test_a_context_length_400_goes_on_to_a_larger_context_model(
    make_tenant, stub_provider, streaming
):
    # llm7's qwen coder has 32k; groq's llama 128k; openrouter's claude 200k (catalogue).
    tenant = make_tenant(
        preferred_provider="llm7",
        failover_order=["groq", "openrouter"],
        provider_models={"llm7": "qwen2.5-coder-32b-instruct",
                         "groq": "llama-3.3-70b-versatile",
                         "openrouter": "anthropic/claude-3.5-haiku"},
    )
    stub_provider.enqueue("llm7", 400, {}, CONTEXT_400)
    result = call(tenant, streaming)
    assert result.provider == "groq"
    assert [a.outcome for a in result.attempts] == ["invalid_request", "success"]


def test_a_context_length_400_skips_candidates_with_no_larger_window(make_tenant, stub_provider):
    tenant = make_tenant(
        preferred_provider="groq",
        failover_order=["llm7", "openrouter"],
        provider_models={"groq": "llama-3.3-70b-versatile", "llm7": "gpt-4o-mini",
                         "openrouter": "anthropic/claude-3.5-haiku"},
    )
    stub_provider.enqueue("groq", 400, {}, {"error": {"message": "Please reduce the length: "
                                                      "context length exceeded"}})
    result = complete(tenant=tenant, messages=HI)
    assert result.provider == "openrouter"
    assert stub_provider.chat_requests("llm7") == 0
    assert any("context window" in s.reason for s in result.skipped)


def test_other_400s_still_stop_at_once(make_tenant, stub_provider):
    tenant = make_tenant(preferred_provider="groq")
    stub_provider.enqueue("groq", 400, {}, {"error": {"message": "temperature is invalid"}})
    with pytest.raises(RoutingError, match="rejected the request"):
        complete(tenant=tenant, messages=HI)
    assert stub_provider.chat_requests("openrouter") == 0
