"""Canary keys and streams: nothing of a key in chunks, results, StreamError, logs or
usage rows, also when a provider quotes the key in an error mid-stream (issue 9,
acceptance 6)."""

import json

import pytest

from llm_routing import RoutingError, StreamError, stream
from tests.llm_routing.test_key_never_leaks import assert_nowhere, routing_error_text, usage_dump

HI = [{"role": "user", "content": "hi"}]


def accept(stub_provider, keys):
    for provider, key in keys.items():
        stub_provider.accept_key(provider, key)


def test_a_streamed_answer_carries_no_key(canary_tenant, stub_provider, all_logs):
    tenant, keys = canary_tenant
    accept(stub_provider, keys)
    with stream(tenant=tenant, messages=HI) as s:
        chunks = list(s)
    assert_nowhere(keys, repr(chunks), repr(s.result), all_logs.text, usage_dump(tenant))


def test_refused_keys_on_a_stream_stay_out_of_the_routing_error(canary_tenant, all_logs):
    tenant, keys = canary_tenant
    with pytest.raises(RoutingError) as caught:
        with stream(tenant=tenant, messages=HI):
            pass
    assert [a.outcome for a in caught.value.attempts] == ["auth_error"] * 3
    assert_nowhere(keys, routing_error_text(caught.value), all_logs.text, usage_dump(tenant))


def test_a_key_quoted_in_an_error_before_the_stream_is_scrubbed(
    canary_tenant, stub_provider, all_logs
):
    tenant, keys = canary_tenant
    accept(stub_provider, keys)
    stub_provider.enqueue("groq", 500, {}, {"error": {"message": f"bad {keys['groq']} key"}})
    with stream(tenant=tenant, messages=HI) as s:
        list(s)
    assert s.result.provider == "openrouter"
    assert_nowhere(keys, repr(s.result), all_logs.text, usage_dump(tenant))


def test_an_error_mid_stream_quoting_the_key_never_shows_it(
    canary_tenant, stub_provider, all_logs, monkeypatch
):
    tenant, keys = canary_tenant
    accept(stub_provider, keys)
    from llm_routing.stub import streaming

    quoted = json.dumps({"error": {"message": f"upstream saw key {keys['groq']}"}})
    monkeypatch.setattr(streaming, "error_event", lambda code=502: f"data: {quoted}\n\n".encode())
    stub_provider.configure("groq", stream_error_after=2)
    with pytest.raises(StreamError) as caught:
        with stream(tenant=tenant, messages=HI) as s:
            list(s)
    error = caught.value
    assert_nowhere(
        keys, routing_error_text(error), error.received, all_logs.text, usage_dump(tenant)
    )
