"""Reading streamed chat completions: SSE framing and the typed events."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_routing.sse import SSEDecoder, StreamTooLarge, ToolCallDelta, parse_event


def chunk(delta=None, finish=None, **extra):
    return json.dumps({"choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
                       **extra})


def test_events_split_on_blank_lines_whatever_the_line_endings_and_feeds():
    body = (b": OPENROUTER PROCESSING\r\n\r\ndata: {\"a\": 1}\r\n\r\n"
            b"event: message\ndata: [DONE]\n\n")
    for size in (1, 3, len(body)):
        decoder, events = SSEDecoder(), []
        for i in range(0, len(body), size):
            events += decoder.feed(body[i : i + size])
        assert events + decoder.close() == ['{"a": 1}', "[DONE]"]


def test_an_unterminated_last_event_still_counts_at_the_end():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: [DONE]") == []
    assert decoder.close() == ["[DONE]"]


def test_a_line_that_never_ends_is_refused():
    with pytest.raises(StreamTooLarge):
        SSEDecoder().feed(b"data: " + b"x" * (1024 * 1024 + 1))


def test_text_tool_calls_and_finish_reason_become_a_chunk():
    text = parse_event(chunk({"role": "assistant", "content": "Hel"}))
    assert (text.kind, text.chunk.text) == ("chunk", "Hel")
    tools = parse_event(chunk({"tool_calls": [
        {"index": 1, "id": "call_1", "function": {"name": "f", "arguments": "{\"x\""}}]}))
    assert tools.chunk.tool_calls == (ToolCallDelta(1, "call_1", "f", "{\"x\""),)
    finish = parse_event(chunk(finish="stop"))
    assert (finish.chunk.text, finish.chunk.finish_reason) == ("", "stop")


def test_role_only_deltas_and_keep_alives_are_empty():
    assert parse_event(chunk({"role": "assistant"})).kind == "empty"
    assert parse_event(chunk({"role": "assistant", "content": ""})).kind == "empty"


def test_usage_comes_from_the_usage_chunk_or_groqs_x_groq():
    openai = parse_event(json.dumps({"choices": [], "usage": {
        "prompt_tokens": 7, "completion_tokens": 3, "cost": 0.00012}}))
    assert (openai.usage.prompt_tokens, openai.usage.completion_tokens) == (7, 3)
    assert str(openai.usage.cost) == "0.00012"
    groq = parse_event(chunk(finish="stop", x_groq={"usage": {"prompt_tokens": 5}}))
    assert (groq.usage.prompt_tokens, groq.usage.completion_tokens) == (5, None)


def test_an_error_object_or_finish_reason_error_is_an_error_event():
    event = parse_event(json.dumps({"error": {"code": 502, "message": "upstream died"}}))
    assert (event.kind, event.error) == ("error", "upstream died")
    assert parse_event(chunk({"content": ""}, finish="error")).kind == "error"


@pytest.mark.parametrize("data", [
    "not json", "[1, 2]", '{"choices": "x"}', '{"choices": [7]}',
    '{"choices": [{"delta": {"content": 5}}]}',
    '{"choices": [{"delta": {"tool_calls": [{"function": {}}]}}]}',
])
def test_malformed_events_are_named_as_such(data):
    assert parse_event(data).kind == "malformed"


def test_done_ends_the_stream():
    assert parse_event("[DONE]").kind == "done"


@given(st.binary(max_size=300))
def test_any_bytes_decode_and_parse_without_raising(raw):
    decoder = SSEDecoder()
    for data in decoder.feed(raw) + decoder.close():
        parse_event(data)
