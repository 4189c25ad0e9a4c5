"""The OpenAI-compatible door: ``POST /v1/chat/completions`` and ``GET /v1/models`` for a
tenant API key, as a small ASGI application in front of Django (config/asgi.py).

Why raw ASGI rather than a Django view: the door must add little to a call (the gateway
benchmark's target is 1.5 ms at p50), and Django runs every sync-only middleware of the
admin's stack (sessions, CSRF, messages...) through a thread hop on an async request,
none of which a bearer-key API needs. Here a request costs one thread hop for the
database (key, per-key limit, routing view) and then ``acomplete()`` / ``astream()``,
which route exactly as in-process callers do. A held-open stream costs a coroutine, not a
thread; a client that disconnects cancels the upstream request at once (the usage row
says cancelled).

The key decides the tenant; nothing in the body can name another one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from llm_routing import clock, throttle
from llm_routing.dbguard import recover
from llm_routing.gateway import wire
from llm_routing.gateway.wire import WireError
from llm_routing.router import (
    BudgetExceeded,
    RoutingError,
    StreamError,
    finish_route_sync,
    start_route,
)
from llm_routing.routing_view import routing_view
from llm_routing.streaming import AsyncStream

logger = logging.getLogger("llm_routing.gateway")

_BEARER = b"bearer "


class _Disconnected(Exception):
    pass


def _header(scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return b""


def _admit(authorization: bytes):
    """(api key, routing view) for a bearer key, after its per-minute limit: WireError 401,
    429 or 503 otherwise. Runs in one thread hop (the database)."""
    from tenants import services

    token = authorization[len(_BEARER):].strip() if authorization[:7].lower() == _BEARER else b""
    try:
        key = services.api_key_identify(token.decode("ascii")) if token else None
    except UnicodeDecodeError:
        key = None
    except DatabaseError:
        raise _database_unavailable() from None
    if key is None:
        raise WireError(401, "Incorrect or revoked API key: send 'Authorization: Bearer tk_...'.",
                        code="invalid_api_key")
    try:
        limit = key.requests_per_minute
        if limit:
            decision = throttle.hit(f"gateway:{key.pk}", limit=limit, window_seconds=60)
            if not decision.allowed:
                raise WireError(
                    429, f"This API key may send {limit} requests a minute; try again in "
                    f"{decision.retry_after} s.", code="rate_limit_exceeded",
                    headers={"retry-after": str(decision.retry_after)},
                )
        view = routing_view(key.tenant_id)
    except DatabaseError:
        raise _database_unavailable() from None
    return key, view


def _database_unavailable() -> WireError:
    # This thread's connection is dropped so the next request opens a fresh one. (No
    # close_old_connections() per request: with SQLite's CONN_MAX_AGE of 0 it would
    # reconnect on every call.)
    recover(connections[DEFAULT_DB_ALIAS])
    return WireError(503, "The service cannot reach its database; try again shortly.",
                     code="service_unavailable")


def _admit_and_start(authorization: bytes, raw_body: bytes):
    """Everything before the first provider call, in one thread hop: the key and its
    limit, the body, the model, and routing up to its first call.
    Returns (api key, ChatRequest, router.Started)."""
    key, view = _admit(authorization)
    request = wire.chat_request(wire.parse_json(raw_body))
    provider, model = wire.resolve_model(
        request.model, configured=view.configured, config=view.config
    )
    try:
        started = start_route(
            tenant=view.tenant, messages=request.messages, provider=provider, model=model,
            max_tokens=request.max_tokens, temperature=request.temperature,
            streamed=request.stream, **request.params,
        )
    except RoutingError as error:
        raise _with_retry_after(routing_failure(error), error, key.tenant_id) from None
    return key, request, started


def _serve_whole(authorization: bytes, raw_body: bytes):
    """A non-streamed request from admission to its result, in one pool thread: (the
    result or the WireError, request). One thread hop instead of three, and the sync HTTP
    client, which costs less than the async one per call."""
    key, request, started = _admit_and_start(authorization, raw_body)
    try:
        return finish_route_sync(started)
    except RoutingError as error:
        raise _with_retry_after(routing_failure(error), error, key.tenant_id) from None


def _with_retry_after(failure: WireError, error: RoutingError, tenant_id) -> WireError:
    if failure.status == 429 and "retry-after" not in failure.headers:
        failure.headers["retry-after"] = str(_retry_after(tenant_id))
    if error.request_id:
        failure.headers["x-request-id"] = str(error.request_id)
    return failure


def _retry_after(tenant_id) -> int:
    """Seconds until the first provider of the tenant comes back (cooldown or window)."""
    from llm_routing.state import states_for

    now = clock.now()
    waits = []
    try:
        for state in states_for(tenant_id).values():
            for moment in (state.cooldown_until, state.window_ends_at):
                if moment and moment > now:
                    waits.append((moment - now).total_seconds())
    except DatabaseError:
        pass
    return max(1, math.ceil(min(waits))) if waits else 60


def routing_failure(error: RoutingError) -> WireError:
    """The HTTP answer to a request no provider served (a 429 still needs its Retry-After)."""
    message = error.reason
    if isinstance(error, BudgetExceeded):
        # OpenAI's answer to an account out of credit: SDKs raise RateLimitError with
        # code "insufficient_quota". Retry-After: when the window resets.
        wait = max(1, math.ceil((error.resets_at - clock.now()).total_seconds()))
        return WireError(
            429, message, code="insufficient_quota", type="insufficient_quota",
            headers={"retry-after": str(wait)},
        )
    attempts = error.attempts
    if not attempts:
        if error.skipped:  # every candidate resting or past its quota
            return WireError(429, message, code="rate_limit_exceeded")
        return WireError(503, message, code="no_provider")
    last = attempts[-1].outcome
    if last == "invalid_request":
        return WireError(400, message, code="provider_rejected_request")
    if last == "rate_limited":
        return WireError(429, message, code="rate_limit_exceeded")
    if last == "timeout":
        return WireError(504, message, code="provider_timeout")
    return WireError(502, message, code="provider_error")


class Gateway:
    """The ASGI application for ``/v1/...``."""

    def __init__(self) -> None:
        # Non-streamed answers run whole in these threads (each with its own database
        # connection): LLM_GATEWAY_THREADS bounds them per process. Streams never take one.
        self._pool = ThreadPoolExecutor(
            max_workers=settings.LLM_GATEWAY_THREADS, thread_name_prefix="gateway"
        )
        self._admit = sync_to_async(_admit, thread_sensitive=True)
        self._start = sync_to_async(_admit_and_start, thread_sensitive=True)
        self._with_retry_after = sync_to_async(_with_retry_after, thread_sensitive=True)

    async def __call__(self, scope, receive, send) -> None:
        try:
            await self._handle(scope, receive, send)
        except WireError as error:
            await self._error(send, error)
        except _Disconnected:
            return
        except Exception:  # noqa: BLE001 - never a traceback to a client
            logger.exception("gateway: unexpected failure on %s", scope.get("path"))
            await self._error(send, WireError(500, "The gateway failed unexpectedly.",
                                              code="internal_error"))

    async def _handle(self, scope, receive, send) -> None:
        path, method = scope["path"].rstrip("/"), scope["method"]
        if path == "/v1/models":
            if method != "GET":
                raise WireError(405, "Use GET /v1/models.", code="method_not_allowed")
            _, view = await self._admit(_header(scope, b"authorization"))
            body = wire.models_list(configured=view.configured, config=view.config)
            return await self._json(send, 200, body)
        if path == "/v1/chat/completions":
            if method != "POST":
                raise WireError(405, "Use POST /v1/chat/completions.", code="method_not_allowed")
            return await self._chat(scope, receive, send)
        raise WireError(404, f"No such endpoint: {method} {scope['path'][:100]}.",
                        code="unknown_url")

    async def _chat(self, scope, receive, send) -> None:
        content_type = _header(scope, b"content-type").split(b";")[0].strip().lower()
        if content_type != b"application/json":
            raise WireError(415, "Send the body as application/json.",
                            code="unsupported_media_type")
        if not _header(scope, b"authorization"):  # no key: refused before the body is read
            raise WireError(401, "Send 'Authorization: Bearer tk_...'.", code="invalid_api_key")
        raw = await self._body(scope, receive)
        authorization = _header(scope, b"authorization")
        if not _asks_to_stream(raw):
            result = await asyncio.get_running_loop().run_in_executor(
                self._pool, _serve_whole, authorization, raw
            )
            return await self._json(
                send, 200, wire.completion_object(result), _result_headers(result)
            )
        key, request, started = await self._start(authorization, raw)
        await self._stream(send, receive, started, request.include_usage, key)

    async def _failure(self, error: RoutingError, tenant_id) -> WireError:
        return await self._with_retry_after(routing_failure(error), error, tenant_id)

    async def _stream(self, send, receive, started, include_usage: bool, key) -> None:
        stream = AsyncStream(started=started)
        try:
            await stream.__aenter__()
        except RoutingError as error:
            raise await self._failure(error, key.tenant_id) from None
        relay = asyncio.ensure_future(self._relay(stream, send, include_usage))
        watch = asyncio.ensure_future(_until_disconnect(receive))
        await asyncio.wait({relay, watch}, return_when=asyncio.FIRST_COMPLETED)
        if not relay.done():  # the client went away: cancel upstream, record it
            relay.cancel()
        else:
            watch.cancel()
        for task in (relay, watch):
            with contextlib.suppress(asyncio.CancelledError, _Disconnected):
                await task

    async def _relay(self, stream, send, include_usage: bool) -> None:
        try:
            headers = {"x-request-id": str(stream.request_id), "x-llm-provider": stream.provider,
                       "x-llm-model": stream.model,
                       "x-llm-attempts": str(len(stream.failed_attempts) + 1)}
            await send({"type": "http.response.start", "status": 200,
                        "headers": _headers("text/event-stream", headers,
                                            {"cache-control": "no-cache"})})
            writer = wire.ChunkWriter(stream.request_id, stream.model)
            await _body(send, writer.role())
            try:
                async for chunk in stream:
                    await _body(send, writer.chunk(chunk))
            except StreamError as error:
                await _body(send, wire.error_event(error.reason), more=False)
                return
            if include_usage and stream.result is not None:
                await _body(send, writer.usage(stream.result))
            await _body(send, wire.DONE, more=False)
        finally:
            await stream.__aexit__(None, None, None)

    async def _body(self, scope, receive) -> bytes:
        limit = settings.LLM_GATEWAY_MAX_BODY_BYTES
        too_large = WireError(413, f"The body is larger than {limit} bytes.",
                              code="body_too_large")
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks, size = [], 0
        try:
            async with asyncio.timeout(settings.LLM_GATEWAY_BODY_TIMEOUT):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _Disconnected
                    piece = message.get("body", b"")
                    size += len(piece)
                    if size > limit:
                        raise too_large
                    chunks.append(piece)
                    if not message.get("more_body"):
                        return b"".join(chunks)
        except TimeoutError:
            raise WireError(408, "The request body did not arrive in time.",
                            code="request_timeout") from None

    async def _json(self, send, status: int, data, extra: dict[str, str] | None = None) -> None:
        body = wire.dumps(data)
        await send({"type": "http.response.start", "status": status,
                    "headers": _headers("application/json", extra or {},
                                        {"content-length": str(len(body))})})
        await _body(send, body, more=False)

    async def _error(self, send, error: WireError) -> None:
        with contextlib.suppress(Exception):  # the response may have started: nothing to do
            await self._json(send, error.status, error.payload(), error.headers)


def _asks_to_stream(raw: bytes) -> bool:
    """Whether the body asks for a stream (a body that is not JSON does not: it goes the
    whole-answer way, which refuses it after the key is checked)."""
    if b'"stream"' not in raw:
        return False
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("stream") is True


def _result_headers(result) -> dict[str, str]:
    return {"x-request-id": str(result.request_id), "x-llm-provider": result.provider,
            "x-llm-model": result.model, "x-llm-attempts": str(len(result.attempts))}


def _headers(content_type: str, *groups: dict[str, str]) -> list[tuple[bytes, bytes]]:
    out = [(b"content-type", content_type.encode())]
    for group in groups:
        out += [(k.encode("latin-1"), str(v).encode("latin-1", "replace"))
                for k, v in group.items()]
    return out


async def _body(send, data: bytes, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


async def _until_disconnect(receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
