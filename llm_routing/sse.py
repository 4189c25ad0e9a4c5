"""Reading a provider's streamed chat completion: server-sent events into typed pieces.

Two layers, both pure (no I/O): ``SSEDecoder`` turns the bytes of an ``text/event-stream``
body into the ``data`` of each event (comment lines such as OpenRouter's
``: OPENROUTER PROCESSING`` and other fields are skipped, events split on blank lines,
CRLF or LF), and ``parse_event`` turns one event's data into a ``StreamEvent``: a chunk of
content (text, tool-call deltas with their index, a finish reason), the usage figures,
an error the provider sent inside the stream, the ``[DONE]`` marker, or a malformed
event. Every field is optional: shapes change, and a missing figure is "unknown", never 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llm_routing.outcomes import UsageFigures, read_usage

# One event's data may not grow past this (a provider that never ends a line).
MAX_EVENT_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of one tool call; pieces with the same ``index`` belong together."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class Chunk:
    """What a caller of ``stream()`` receives: a text delta, tool-call deltas, or the
    finish reason (``stop``, ``length``, ``tool_calls``, ``content_filter``)."""

    text: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: str | None = None

    @property
    def has_content(self) -> bool:
        return bool(self.text or self.tool_calls)


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One parsed event. ``kind``: chunk, done, error, malformed or empty (a keep-alive
    or a role-only delta: nothing for the caller)."""

    kind: str
    chunk: Chunk | None = None
    usage: UsageFigures | None = None
    model: str | None = None
    error: str = ""


DONE = StreamEvent("done")
EMPTY = StreamEvent("empty")


class StreamTooLarge(ValueError):
    pass


class SSEDecoder:
    """Feed bytes, get the data of each complete event (a str per event)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._size = 0

    def feed(self, raw: bytes) -> list[str]:
        self._buffer += raw
        events: list[str] = []
        while True:
            cut = self._buffer.find(b"\n")
            if cut < 0:
                if len(self._buffer) > MAX_EVENT_BYTES:
                    raise StreamTooLarge("an event line is longer than the limit")
                return events
            line, self._buffer = self._buffer[:cut], self._buffer[cut + 1 :]
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    events.append("\n".join(self._data))
                    self._data, self._size = [], 0
                continue
            if line.startswith(b":"):
                continue  # a comment: keep-alive
            name, _, value = line.partition(b":")
            if name != b"data":
                continue  # event:, id:, retry: say nothing a chat client needs
            if value.startswith(b" "):
                value = value[1:]
            self._size += len(value)
            if self._size > MAX_EVENT_BYTES:
                raise StreamTooLarge("an event is larger than the limit")
            self._data.append(value.decode("utf-8", "replace"))

    def close(self) -> list[str]:
        """The end of the body: an event not closed by a blank line still counts."""
        events = self.feed(b"\n\n") if self._buffer else []
        if self._data:
            events.append("\n".join(self._data))
            self._data = []
        return events


def _usage(data: dict[str, Any]) -> UsageFigures | None:
    found = data.get("usage")
    if not isinstance(found, dict):
        x_groq = data.get("x_groq")
        found = x_groq.get("usage") if isinstance(x_groq, dict) else None
    return read_usage(found)


def _tool_calls(raw: Any) -> tuple[ToolCallDelta, ...] | None:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        return None
    deltas = []
    for item in raw:
        if not isinstance(item, dict) or type(item.get("index")) is not int:
            return None
        function = item.get("function") if isinstance(item.get("function"), dict) else {}
        name, arguments = function.get("name"), function.get("arguments")
        deltas.append(
            ToolCallDelta(
                index=item["index"],
                id=item.get("id") if isinstance(item.get("id"), str) else None,
                name=name if isinstance(name, str) else None,
                arguments=arguments if isinstance(arguments, str) else "",
            )
        )
    return tuple(deltas)


def _error_text(error: Any) -> str:
    message = error.get("message") if isinstance(error, dict) else error
    return str(message)[:300] if message else "no message"


def parse_event(data: str) -> StreamEvent:
    """One event's data as a StreamEvent (never raises)."""
    if data.strip() == "[DONE]":
        return DONE
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        return StreamEvent("malformed", error="an event that is not JSON")
    if not isinstance(parsed, dict):
        return StreamEvent("malformed", error="an event that is not a JSON object")
    model = parsed.get("model") if isinstance(parsed.get("model"), str) else None
    usage = _usage(parsed)
    if parsed.get("error"):
        return StreamEvent("error", usage=usage, model=model, error=_error_text(parsed["error"]))
    choices = parsed.get("choices")
    if choices is None or choices == []:
        # The usage chunk (empty choices), or a keep-alive object.
        return StreamEvent("chunk" if usage else "empty", usage=usage, model=model)
    first = choices[0] if isinstance(choices, list) else None
    if not isinstance(first, dict):
        return StreamEvent("malformed", error="an event without choices[0]")
    delta = first.get("delta") if first.get("delta") is not None else {}
    finish = first.get("finish_reason")
    if not isinstance(delta, dict) or not isinstance(finish, str | None):
        return StreamEvent("malformed", error="an event with a malformed delta")
    if finish == "error":
        return StreamEvent("error", usage=usage, model=model, error="finish_reason error")
    text = delta.get("content")
    tool_calls = _tool_calls(delta.get("tool_calls"))
    if not isinstance(text, str | None) or tool_calls is None:
        return StreamEvent("malformed", error="an event with a malformed delta")
    chunk = Chunk(text or "", tool_calls, finish)
    if not chunk.has_content and finish is None:
        return StreamEvent("chunk" if usage else "empty", usage=usage, model=model)
    return StreamEvent("chunk", chunk=chunk, usage=usage, model=model)


class StreamReader:
    """One streamed answer, read as it arrives: ``feed`` bytes, get the chunks for the
    caller; the text, tool calls, finish reason, usage and any failure accumulate here.

    ``failure`` is (kind, message) once the stream went wrong: ``error`` (an error event
    or finish_reason error), ``malformed``, or ``cut`` (the body ended with neither a finish
    reason nor [DONE]). Nothing is read after [DONE] or a failure.
    """

    def __init__(self) -> None:
        self._decoder = SSEDecoder()
        self._text: list[str] = []
        self._tools: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: UsageFigures | None = None
        self.model: str | None = None
        self.done = False
        self.failure: tuple[str, str] | None = None
        self.content_chunks = 0

    @property
    def started(self) -> bool:
        """Content (text or a tool call) has been read: the answer is committed."""
        return self.content_chunks > 0

    @property
    def over(self) -> bool:
        return self.done or self.failure is not None

    @property
    def complete(self) -> bool:
        """Ended as a whole answer: a finish reason or [DONE], and no failure."""
        return self.failure is None and (self.done or self.finish_reason is not None)

    @property
    def text(self) -> str:
        return "".join(self._text)

    def tool_calls(self) -> tuple[dict[str, Any], ...]:
        """The tool calls assembled from their deltas, in index order (OpenAI's shape)."""
        return tuple(
            {"id": t["id"], "type": "function",
             "function": {"name": t["name"], "arguments": "".join(t["arguments"])}}
            for _, t in sorted(self._tools.items())
        )

    def feed(self, raw: bytes) -> list[Chunk]:
        if self.over:
            return []
        try:
            events = self._decoder.feed(raw)
        except StreamTooLarge as exc:
            self.failure = ("malformed", str(exc))
            return []
        return self._read(events)

    def end(self) -> list[Chunk]:
        """The body ended: what was still buffered, then a cut if the answer is not whole."""
        chunks = [] if self.over else self._read(self._decoder.close())
        if not self.over and self.finish_reason is None:
            self.failure = ("cut", "the stream ended without a finish reason or [DONE]")
        return chunks

    def _read(self, events: list[str]) -> list[Chunk]:
        out: list[Chunk] = []
        for data in events:
            event = parse_event(data)
            if event.usage is not None:
                self.usage = event.usage
            if event.model:
                self.model = event.model
            if event.kind == "done":
                self.done = True
                break
            if event.kind in ("error", "malformed"):
                self.failure = (event.kind, event.error)
                break
            chunk = event.chunk
            if chunk is None:
                continue
            if chunk.has_content:
                self.content_chunks += 1
                if chunk.text:
                    self._text.append(chunk.text)
                for delta in chunk.tool_calls:
                    call = self._tools.setdefault(
                        delta.index, {"id": None, "name": None, "arguments": []}
                    )
                    call["id"] = call["id"] or delta.id
                    call["name"] = call["name"] or delta.name
                    call["arguments"].append(delta.arguments)
            if chunk.finish_reason:
                self.finish_reason = chunk.finish_reason
            out.append(chunk)
        return out
