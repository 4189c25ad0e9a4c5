"""The stub provider's streamed answers (``"stream": true``): the events each provider
sends, and the scripted faults of a stream.

A plan is a list of SSE events plus where a fault strikes, counted in content chunks
sent: an error event, a connection cut with no finish reason, a stall, or a malformed
event after N of them (0: before the first). The handler writes it with chunked transfer
encoding, as the real providers do.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

STUB_TOOL_ARGUMENTS = '{"city": "Paris", "unit": "celsius"}'


@dataclass
class StreamPlan:
    head: list[bytes]  # before the first content chunk (the role chunk)
    content: list[bytes]  # one event per content chunk
    tail: list[bytes]  # finish chunk, usage chunk, [DONE]
    chunk_delay: float = 0.0
    fault: str | None = None  # error, cut, stall, malformed
    fault_after: int = 0
    stall_seconds: float = 30.0
    log: list = field(default_factory=list)


def _event(data: Any) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


def _pieces(text: str, count: int | None) -> list[str]:
    words = text.split(" ")
    pieces = [w + " " for w in words[:-1]] + [words[-1]]
    if count and count > 0:
        while len(pieces) < count:
            pieces += pieces  # a long stream: the content repeats
        pieces = pieces[:count]
    return [p for p in pieces if p] or [text]


def build(
    *,
    provider: str,
    model: str,
    content: str,
    usage: dict[str, Any],
    include_usage: bool,
    behaviour: Any,
    tool_name: str | None,
    answer_id: str,
) -> StreamPlan:
    created = int(time.time())

    def chunk(delta: dict, finish: str | None = None, **extra) -> bytes:
        return _event({
            "id": answer_id, "object": "chat.completion.chunk", "created": created,
            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        })

    head = [chunk({"role": "assistant", "content": ""})]
    if provider == "openrouter":
        head.insert(0, b": OPENROUTER PROCESSING\n\n")
    if tool_name:
        call = {"index": 0, "id": "call_stub_1", "type": "function",
                "function": {"name": tool_name, "arguments": ""}}
        body = [chunk({"tool_calls": [call]})] + [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            for piece in _pieces(STUB_TOOL_ARGUMENTS, 4)
        ]
        finish = "tool_calls"
    else:
        body = [chunk({"content": piece}) for piece in _pieces(content, behaviour.stream_chunks)]
        finish = "stop"
    extra = {}
    if provider == "groq" and behaviour.stream_usage:
        extra = {"x_groq": {"id": answer_id, "usage": usage}}
    tail = [chunk({}, finish, **extra)]
    if include_usage:
        tail.append(_event({
            "id": answer_id, "object": "chat.completion.chunk", "created": created,
            "model": model, "choices": [], "usage": usage,
        }))
    tail.append(_event("[DONE]"))
    plan = StreamPlan(head, body, tail, chunk_delay=behaviour.stream_chunk_delay)
    for fault in ("error", "cut", "stall", "malformed"):
        after = getattr(behaviour, f"stream_{fault}_after")
        if after is not None:
            plan.fault, plan.fault_after = fault, after
            plan.stall_seconds = behaviour.stream_stall_seconds
            break
    return plan


def error_event(code: int = 502) -> bytes:
    return _event({"error": {"code": code, "message": "the stub's upstream failed mid-stream"},
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "error"}]})


MALFORMED_EVENT = b"data: {this is not json\n\n"
