"""The official openai SDK, pointed at a running server with a tenant API key: completes,
streams (with usage when asked), calls tools, lists models, and raises the right
exception classes (issue 10, acceptance 1-2)."""

import time

import openai
import pytest

from tests.llm_routing.conftest import usage_rows

pytestmark = [pytest.mark.slow]

HI = [{"role": "user", "content": "hi"}]
TEXT = "Hello from the stub provider."


def client(url, key, **kwargs):
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=30, **kwargs)


def rows_of(tenant, count, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = usage_rows(tenant)
        if len(rows) >= count:
            return rows
        time.sleep(0.1)
    return usage_rows(tenant)


def test_a_completion_with_usage_and_what_happened_in_headers(gateway, tenant_key):
    tenant, key = tenant_key(preferred_provider="groq")
    raw = client(gateway, key).chat.completions.with_raw_response.create(
        model="auto", messages=HI, max_tokens=16
    )
    answer = raw.parse()
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.content == TEXT
    assert answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (1, 5)
    assert raw.headers["x-llm-provider"] == "groq"
    assert raw.headers["x-llm-attempts"] == "1"
    assert raw.headers["x-request-id"]
    assert rows_of(tenant, 1) == [("groq", "success", 1)]


def test_streaming_with_and_without_usage(gateway, tenant_key):
    tenant, key = tenant_key(preferred_provider="openrouter")
    sdk = client(gateway, key)
    chunks = list(sdk.chat.completions.create(model="auto", messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
    assert all(c.usage is None for c in chunks)
    chunks = list(sdk.chat.completions.create(
        model="auto", messages=HI, stream=True, stream_options={"include_usage": True}
    ))
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_streamed_tool_calls_are_reassembled_by_the_sdk(gateway, tenant_key):
    _, key = tenant_key(preferred_provider="llm7")
    tools = [{"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object", "properties": {}}}}]
    sdk = client(gateway, key)
    with sdk.chat.completions.stream(model="auto", messages=HI, tools=tools) as s:
        for _ in s:
            pass
        final = s.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city": "Paris", "unit": "celsius"}'
    answer = sdk.chat.completions.create(model="auto", messages=HI, tools=tools)
    assert answer.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert answer.choices[0].finish_reason == "tool_calls"


def test_parameters_pass_through_to_the_provider(gateway, tenant_key, stub_provider):
    _, key = tenant_key(preferred_provider="groq")
    client(gateway, key).chat.completions.create(
        model="auto", messages=HI, temperature=0.3, seed=7, stop=["\n"],
        response_format={"type": "json_object"}, max_tokens=9,
    )
    sent = stub_provider.last_payload("groq")
    assert (sent["temperature"], sent["seed"], sent["stop"], sent["max_tokens"]) == (
        0.3, 7, ["\n"], 9)
    assert sent["response_format"] == {"type": "json_object"}


def test_model_names_pin_or_pick_the_provider(gateway, tenant_key, stub_provider):
    _, key = tenant_key(preferred_provider="groq")
    sdk = client(gateway, key)
    raw = sdk.chat.completions.with_raw_response.create(model="llm7/gpt-4o-mini", messages=HI)
    assert raw.headers["x-llm-provider"] == "llm7"
    assert stub_provider.last_payload("llm7")["model"] == "gpt-4o-mini"
    raw = sdk.chat.completions.with_raw_response.create(
        model="deepseek/deepseek-r1", messages=HI  # a bare name openrouter serves
    )
    assert raw.headers["x-llm-provider"] == "openrouter"


def test_the_model_list_starts_with_auto(gateway, tenant_key):
    _, key = tenant_key(preferred_provider="groq", provider_models={"groq": "llama-3.1-8b-instant"})
    ids = [m.id for m in client(gateway, key).models.list()]
    assert ids[0] == "auto"
    assert ids[1] == "groq/llama-3.1-8b-instant"
    assert "openrouter/deepseek/deepseek-r1" in ids


def test_sdk_exception_classes(gateway, tenant_key, stub_provider):
    _, key = tenant_key(preferred_provider="groq", auto_failover=False)
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "tk_nope_nope").chat.completions.create(model="auto", messages=HI)
    sdk = client(gateway, key)
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="no-such-model", messages=HI)
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model="auto", messages=[])
    stub_provider.enqueue("groq", 429, {"retry-after": "600"}, {"error": {"message": "slow"}})
    with pytest.raises(openai.RateLimitError):
        sdk.chat.completions.create(model="auto", messages=HI)
    with pytest.raises(openai.RateLimitError) as caught:  # now resting: 429 with Retry-After
        sdk.chat.completions.create(model="auto", messages=HI)
    assert 590 <= int(caught.value.response.headers["retry-after"]) <= 600
    assert stub_provider.chat_requests("groq") == 1  # the second never reached the provider


def test_providers_failing_are_5xx_errors(gateway, tenant_key, stub_provider):
    _, key = tenant_key(preferred_provider="groq", auto_failover=False)
    stub_provider.configure("groq", status=503)
    with pytest.raises(openai.InternalServerError) as caught:
        client(gateway, key).chat.completions.create(model="auto", messages=HI)
    assert caught.value.status_code == 502


def test_failover_before_the_first_token_is_invisible(gateway, tenant_key, stub_provider):
    tenant, key = tenant_key(preferred_provider="groq")
    stub_provider.configure("groq", stream_error_after=0)
    chunks = list(client(gateway, key).chat.completions.create(
        model="auto", messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
    assert [row[:2] for row in rows_of(tenant, 2)] == [("groq", "error"),
                                                       ("openrouter", "success")]


def test_a_failure_after_the_first_token_is_an_error_the_sdk_raises(
    gateway, tenant_key, stub_provider
):
    _, key = tenant_key(preferred_provider="groq")
    stub_provider.configure("groq", stream_cut_after=2)
    received = []
    with pytest.raises(openai.APIError):
        for chunk in client(gateway, key).chat.completions.create(
            model="auto", messages=HI, stream=True
        ):
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "Hello from "


def test_cached_and_reasoning_tokens_reach_the_sdk_in_openais_shape(
    gateway, tenant_key, stub_provider
):
    stub_provider.configure("groq", cached_tokens=1, reasoning_tokens=3)
    tenant, key = tenant_key(preferred_provider="groq")
    sdk = client(gateway, key)
    answer = sdk.chat.completions.create(model="auto", messages=HI)
    assert answer.usage.prompt_tokens_details.cached_tokens == 1
    assert answer.usage.completion_tokens_details.reasoning_tokens == 3
    assert answer.usage.completion_tokens == 5 + 3  # reasoning is part of the completion
    chunks = list(sdk.chat.completions.create(
        model="auto", messages=HI, stream=True, stream_options={"include_usage": True}
    ))
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 1
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens == 3
