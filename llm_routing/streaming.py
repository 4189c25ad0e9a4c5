"""``stream`` / ``astream``: a chat completion for a tenant, delivered as it is generated.

They drive the same routing generator as ``complete`` (router._route: candidates,
reserve, classify, record, track), with a stream reader in place of a whole body:

- Until the first content (text or a tool call) the stream is not committed: a 429, a
  5xx, a stall, a cut, a malformed event or an error event is that attempt's failure and
  the next candidate is tried, exactly as ``complete()`` would. The caller sees nothing
  of it; ``__enter__`` returns once content has arrived (or raises RoutingError).
- After that a failure ends the stream with StreamError (never a silent truncation: a
  body that ends with neither a finish reason nor [DONE] is a failure).
- Leaving the ``with`` block early closes the upstream connection at once and records
  the attempt as cancelled, with the tokens received.

Timeouts (per provider, ``Provider.stream_timeouts``): the first content must arrive
within ``first_token`` seconds of the request (connect and head included: the sync
driver bounds every socket operation by that deadline, http_client.deadline_at; the
async one waits for exactly the time left), and once content flows no read may wait
longer than ``gap`` seconds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any, Literal

from asgiref.sync import sync_to_async

from llm_routing import clock, http_client
from llm_routing.outcomes import StreamBroken, StreamEnded
from llm_routing.router import (
    Attempt,
    RoutingError,
    RoutingResult,
    Started,
    StreamCommitted,
    _advance,
    _Call,
    _Done,
    _Relay,
    _Wait,
    prepare_route,
)
from llm_routing.sse import Chunk, StreamReader

__all__ = ["stream", "astream", "Stream", "AsyncStream", "Chunk"]


class _Attempt:
    """One open streamed answer and what has been read of it (shared by both drivers)."""

    def __init__(self, call: _Call, reply: Any, started: float):
        # reply: an http_client.StreamReply (sync driver) or AsyncStreamReply (async).
        self.call = call
        self.reply = reply
        self.reader = StreamReader()
        self.started = started
        self.first_token, self.gap = call.timeouts
        self.pending: list[Chunk] = []

    def committed(self) -> bool:
        r = self.reader
        return r.started or r.finish_reason is not None or r.done

    def broken(self, kind: str, message: str) -> StreamBroken:
        return StreamBroken(self.reply.status_code, self.reply.headers, kind, message)

    def ended(self, how: str, message: str, prompt_chars: int) -> StreamEnded:
        r = self.reader
        return StreamEnded(
            headers=self.reply.headers,
            how=how,
            message=message,
            text=r.text,
            tool_calls=r.tool_calls(),
            finish_reason=r.finish_reason,
            model=r.model,
            usage=r.usage,
            prompt_chars=prompt_chars,
        )

    def ttft_ms(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)


def _how(reader: StreamReader) -> tuple[str, str]:
    if reader.failure is not None:
        return reader.failure
    return "complete", ""


def _transport_how(failure: http_client.TransportFailure) -> str:
    return "timeout" if failure.kind == "timeout" else "transport"


class Stream:
    """A routed stream: use as a context manager, iterate for Chunks, then read ``result``
    (a RoutingResult with ``ttft_ms`` and ``finish_reason``)."""

    def __init__(self, route: Generator[Any, Any, Any], prompt_chars: int):
        self._route = route
        self._prompt_chars = prompt_chars
        self._attempt: _Attempt | None = None
        self._raw: Iterator[bytes] | None = None
        self._relay: _Relay | None = None
        self._finished = False
        self.result: RoutingResult | None = None

    # --- what the caller may read while streaming ------------------------------------------
    @property
    def provider(self) -> str | None:
        return self._relay.provider if self._relay else None

    @property
    def model(self) -> str | None:
        return self._relay.model if self._relay else None

    @property
    def request_id(self) -> uuid.UUID | None:
        return self._relay.request_id if self._relay else None

    @property
    def failed_attempts(self) -> tuple[Attempt, ...]:
        """Attempts that failed before this one took over (the caller saw none of them)."""
        return self._relay.attempts if self._relay else ()

    # --- driving ------------------------------------------------------------------------------
    def __enter__(self) -> Stream:
        step = _advance(self._route, None)
        while isinstance(step, _Call | _Wait):
            if isinstance(step, _Wait):
                clock.sleep(step.seconds)
                step = _advance(self._route, None)
            else:
                step = _advance(self._route, self._open(step))
        if isinstance(step, _Done):  # pragma: no cover - a stream always commits first
            raise RoutingError("the stream ended before it started")
        self._relay = step
        return self

    def _open(self, call: _Call) -> Any:
        # Until the first content every connect, read and write is cut to what is left of
        # the first-token deadline; after it, each read waits at most the gap.
        first_token = call.timeouts[0]
        with http_client.deadline_at(time.monotonic() + first_token):
            return self._open_until_content(call, first_token)

    def _open_until_content(self, call: _Call, first_token: float) -> Any:
        started = time.perf_counter()
        try:
            reply = http_client.open_stream(
                call.url, api_key=call.api_key, body=call.body, read_timeout=call.timeouts[1]
            )
        except http_client.TransportFailure as failure:
            return failure
        if not 200 <= reply.status_code < 300:
            try:
                return reply.read_whole()
            except http_client.TransportFailure as failure:
                return failure
            finally:
                reply.close()
        attempt = _Attempt(call, reply, started)
        raw = iter(reply)
        try:
            for piece in raw:
                chunks = attempt.reader.feed(piece)
                if attempt.reader.failure is not None:
                    reply.close()
                    return attempt.broken(*attempt.reader.failure)
                if attempt.committed():
                    return self._commit(attempt, raw, chunks)
            chunks = attempt.reader.end()
        except http_client.TransportFailure as failure:
            reply.close()
            if failure.kind == "timeout" and time.perf_counter() - started >= first_token:
                return attempt.broken("timeout", f"no content within {first_token:g}s")
            return attempt.broken(_transport_how(failure), failure.message)
        if attempt.committed() and attempt.reader.failure is None:
            return self._commit(attempt, raw, chunks)
        reply.close()
        return attempt.broken(*(attempt.reader.failure or ("cut", "the stream ended empty")))

    def _commit(
        self, attempt: _Attempt, raw: Iterator[bytes], chunks: list[Chunk]
    ) -> StreamCommitted:
        attempt.pending = chunks
        self._attempt, self._raw = attempt, raw
        return StreamCommitted(attempt.ttft_ms())

    def __iter__(self) -> Iterator[Chunk]:
        attempt = self._attempt
        if attempt is None or self._raw is None:
            raise RuntimeError("use stream(...) as a context manager: with stream(...) as s:")
        pending, attempt.pending = attempt.pending, []
        yield from pending
        reader = attempt.reader
        try:
            if not reader.over:
                for piece in self._raw:
                    yield from reader.feed(piece)
                    if reader.over:
                        break
                else:
                    yield from reader.end()
        except http_client.TransportFailure as failure:
            self._finish(_transport_how(failure), failure.message)
            return
        self._finish(*_how(reader))

    def _finish(self, how: str, message: str) -> None:
        """Close upstream and let routing record the attempt; raises StreamError unless the
        stream completed."""
        if self._finished:
            return
        self._finished = True
        attempt = self._attempt
        assert attempt is not None
        attempt.reply.close()
        step = _advance(self._route, attempt.ended(how, message, self._prompt_chars))
        assert isinstance(step, _Done)
        self.result = step.result

    def __exit__(self, *exc_info: object) -> Literal[False]:
        if self._attempt is not None and not self._finished:
            try:
                self._finish("cancelled", "the caller left the stream")
            except RoutingError:
                pass  # the caller left: the cancellation is recorded, not raised
        return False


class AsyncStream:
    """The async twin of Stream: ``async with astream(...) as s: async for chunk in s``.
    ``started``: a route already advanced to its first step (router.start_route)."""

    def __init__(
        self,
        route: Generator[Any, Any, Any] | None = None,
        prompt_chars: int = 0,
        started: Started | None = None,
    ):
        self._started = started
        chosen = started.route if started is not None else route
        if chosen is None:
            raise TypeError("AsyncStream needs a route or a started route")
        self._route: Generator[Any, Any, Any] = chosen
        self._prompt_chars = started.prompt_chars if started else prompt_chars
        self._attempt: _Attempt | None = None
        self._relay: _Relay | None = None
        self._finished = False
        self._advance = sync_to_async(_advance, thread_sensitive=True)
        self.result: RoutingResult | None = None

    provider = Stream.provider
    model = Stream.model
    request_id = Stream.request_id
    failed_attempts = Stream.failed_attempts

    async def __aenter__(self) -> AsyncStream:
        if self._started is not None:
            step = self._started.step
        else:
            step = await self._advance(self._route, None)
        while isinstance(step, _Call | _Wait):
            if isinstance(step, _Wait):
                await clock.asleep(step.seconds)
                step = await self._advance(self._route, None)
            else:
                step = await self._advance(self._route, await self._open(step))
        if isinstance(step, _Done):  # pragma: no cover
            raise RoutingError("the stream ended before it started")
        self._relay = step
        return self

    async def _open(self, call: _Call) -> Any:
        first_token, gap = call.timeouts
        started = time.perf_counter()
        try:
            reply = await http_client.aopen_stream(
                call.url, api_key=call.api_key, body=call.body, read_timeout=gap,
                head_timeout=first_token,
            )
        except http_client.TransportFailure as failure:
            return failure
        if not 200 <= reply.status_code < 300:
            try:
                return await reply.read_whole()
            except http_client.TransportFailure as failure:
                return failure
            finally:
                await reply.aclose()
        attempt = _Attempt(call, reply, started)
        try:
            while True:
                left = first_token - (time.perf_counter() - started)
                if left <= 0:
                    await reply.aclose()
                    return attempt.broken("timeout", f"no content within {first_token:g}s")
                piece = await reply.next_bytes(timeout=min(gap, left))
                if piece is None:
                    attempt.pending = attempt.reader.end()
                    break
                chunks = attempt.reader.feed(piece)
                if attempt.reader.failure is not None:
                    break
                if attempt.committed():
                    attempt.pending = chunks
                    self._attempt = attempt
                    return StreamCommitted(attempt.ttft_ms())
        except http_client.TransportFailure as failure:
            await reply.aclose()
            how = _transport_how(failure)
            if how == "timeout" and time.perf_counter() - started >= first_token - 0.01:
                return attempt.broken("timeout", f"no content within {first_token:g}s")
            return attempt.broken(how, failure.message)
        if attempt.committed() and attempt.reader.failure is None:
            self._attempt = attempt
            return StreamCommitted(attempt.ttft_ms())
        await reply.aclose()
        return attempt.broken(*(attempt.reader.failure or ("cut", "the stream ended empty")))

    async def __aiter__(self) -> AsyncIterator[Chunk]:
        attempt = self._attempt
        if attempt is None:
            raise RuntimeError("use astream(...) as an async context manager")
        pending, attempt.pending = attempt.pending, []
        for chunk in pending:
            yield chunk
        reader = attempt.reader
        try:
            while not reader.over:
                piece = await attempt.reply.next_bytes(timeout=attempt.gap)
                if piece is None:
                    for chunk in reader.end():
                        yield chunk
                    break
                for chunk in reader.feed(piece):
                    yield chunk
        except http_client.TransportFailure as failure:
            await self._finish(_transport_how(failure), failure.message)
            return
        await self._finish(*_how(reader))

    async def _finish(self, how: str, message: str) -> None:
        if self._finished:
            return
        self._finished = True
        attempt = self._attempt
        assert attempt is not None
        await attempt.reply.aclose()
        step = await self._advance(
            self._route, attempt.ended(how, message, self._prompt_chars)
        )
        assert isinstance(step, _Done)
        self.result = step.result

    async def __aexit__(self, *exc_info: object) -> Literal[False]:
        if self._attempt is not None and not self._finished:
            try:
                await self._finish("cancelled", "the caller left the stream")
            except RoutingError:
                pass  # the caller left: the cancellation is recorded, not raised
        return False


def stream(
    *,
    tenant: Any,
    messages: list[dict[str, Any]],
    max_tokens: int | None = None,
    temperature: float | None = None,
    provider: str | None = None,
    model: str | None = None,
    **openai_params: Any,
) -> Stream:
    """Stream a chat completion for ``tenant`` (arguments as for ``complete``).

    ``with stream(...) as s:`` returns once content has started (failing over before
    that) or raises RoutingError; iterate ``s`` for Chunks; ``s.result`` after the end.
    A failure after content started raises StreamError from the iteration.
    """
    prepared = prepare_route(
        tenant=tenant, messages=messages, max_tokens=max_tokens, temperature=temperature,
        provider=provider, model=model, streamed=True, **openai_params,
    )
    return Stream(prepared.route, prepared.prompt_chars)


def astream(
    *,
    tenant: Any,
    messages: list[dict[str, Any]],
    max_tokens: int | None = None,
    temperature: float | None = None,
    provider: str | None = None,
    model: str | None = None,
    **openai_params: Any,
) -> AsyncStream:
    """The async twin of ``stream``: ``async with astream(...) as s: async for c in s``."""
    prepared = prepare_route(
        tenant=tenant, messages=messages, max_tokens=max_tokens, temperature=temperature,
        provider=provider, model=model, streamed=True, **openai_params,
    )
    return AsyncStream(prepared.route, prepared.prompt_chars)
