"""The stub provider streams like the providers do, and breaks streams on cue."""

import json
import time

import httpx
import pytest

from llm_routing.sse import SSEDecoder, parse_event


def stream(stub, provider="groq", include_usage=False, **body):
    payload = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}],
               **body}
    if include_usage:
        payload["stream_options"] = {"include_usage": True}
    decoder, events, error = SSEDecoder(), [], None
    with httpx.stream("POST", stub.base_url(provider) + "/chat/completions", json=payload,
                      headers={"Authorization": f"Bearer {stub.good_key(provider)}"},
                      timeout=3) as response:
        assert response.headers["content-type"] == "text/event-stream"
        try:
            for raw in response.iter_raw():
                events += decoder.feed(raw)
        except httpx.HTTPError as exc:
            error = type(exc).__name__
    return [parse_event(e) for e in events + decoder.close()], error


def text_of(events):
    return "".join(e.chunk.text for e in events if e.chunk)


def test_a_stream_carries_the_content_a_finish_reason_and_done(stub_provider):
    events, error = stream(stub_provider, "llm7")
    assert error is None
    assert text_of(events) == "Hello from the stub provider."
    assert [e.chunk.finish_reason for e in events if e.chunk][-1] == "stop"
    assert events[-1].kind == "done"
    assert not any(e.usage for e in events)  # llm7, usage not asked for


def test_usage_comes_last_when_asked_with_each_providers_extras(stub_provider):
    events, _ = stream(stub_provider, "openrouter", include_usage=True)
    usage = [e.usage for e in events if e.usage]
    assert usage[-1].completion_tokens == 5 and usage[-1].cost is not None
    groq, _ = stream(stub_provider, "groq")
    assert [e.usage.prompt_tokens for e in groq if e.usage] == [1]  # x_groq.usage only


def test_a_request_with_tools_streams_tool_call_deltas_with_their_index(stub_provider):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    events, _ = stream(stub_provider, "llm7", tools=tools)
    deltas = [d for e in events if e.chunk for d in e.chunk.tool_calls]
    assert {d.index for d in deltas} == {0} and deltas[0].name == "get_weather"
    assert json.loads("".join(d.arguments for d in deltas)) == {"city": "Paris", "unit": "celsius"}


@pytest.mark.parametrize("fault, end, transport_error", [
    ("stream_cut_after", "cut", "RemoteProtocolError"),
    ("stream_error_after", "error", None),
    ("stream_malformed_after", "malformed", None),
])
def test_faults_strike_after_the_given_number_of_chunks(stub_provider, fault, end, transport_error):
    stub_provider.configure("llm7", **{fault: 2})
    events, error = stream(stub_provider, "llm7")
    assert error == transport_error
    assert text_of(events) == "Hello from "
    assert all(e.kind != "done" for e in events)
    # The stub records how a stream ended once its handler returns, which may be just
    # after the client has read the last bytes.
    deadline = time.monotonic() + 5
    while not stub_provider.streams("llm7") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stub_provider.streams("llm7")[-1]["end"] == end


def test_a_stall_holds_the_stream_silent(stub_provider):
    stub_provider.configure("llm7", stream_stall_after=0, stream_stall_seconds=2)
    with pytest.raises(httpx.ReadTimeout):
        with httpx.stream("POST", stub_provider.base_url("llm7") + "/chat/completions",
                          json={"model": "m", "stream": True, "messages": []},
                          headers={"Authorization": f"Bearer {stub_provider.good_key('llm7')}"},
                          timeout=0.5) as response:
            for _ in response.iter_raw():
                pass
