"""The one place that talks HTTP to providers (and the only module that imports httpx).

Non-streamed calls (``request``: the router's, the key test's, the model lists') go
through ``http11``, this package's small HTTP/1.1 keep-alive client over sockets with
httptools' C parser, one pool per process: measured against the stub provider, one round
trip took 0.82-0.87 ms at p50 through httpcore's pool and h11 (pure Python) and 0.37 ms
this way, most of what kept the gateway over its 1.5 ms target. Streams use one pooled
``httpx.Client`` per process, async calls one ``httpx.AsyncClient`` per event loop. All
have explicit connect/read/write/pool timeouts, a total deadline per request, a cap on the
response size, no redirects, no retries in the transport (the router is the only retry
loop; ``http11`` only replaces a kept-alive connection the server had closed) and no proxy
or .netrc settings picked up from the environment.

A provider key travels only in the Authorization header. httpx and httpcore exceptions
keep a reference to the request (and so to its headers); neither they nor ``http11``'s
leave this module: callers get a ``TransportFailure`` whose message has been scrubbed of
the key, raised outside the ``except`` block so that no exception chain leads back to the
original exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import ssl
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

import llm_routing.http11 as http11

USER_AGENT = "llm-tenants-router/1"
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A provider's answer, fully read. Header names are lower-case."""

    status_code: int
    headers: dict[str, str]
    content: bytes


class TransportFailure(Exception):
    """The request got no HTTP answer. ``kind``: timeout, connect_error, transport_error,
    response_too_large. The message never contains key material."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` without any of ``secrets`` and without anything after 'Bearer '."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _BEARER.sub(r"\1[redacted]", text)


def _limits() -> httpx.Limits:
    # Given to the transports: httpx ignores a client's ``limits`` once it is handed a
    # transport of its own, so before this every process had httpx's 100 connections.
    return httpx.Limits(
        max_connections=settings.LLM_HTTP_MAX_CONNECTIONS,
        max_keepalive_connections=settings.LLM_HTTP_MAX_KEEPALIVE,
        keepalive_expiry=30.0,
    )


def _client_options() -> dict[str, Any]:
    return {
        "timeout": httpx.Timeout(
            connect=settings.LLM_HTTP_CONNECT_TIMEOUT,
            read=settings.LLM_HTTP_READ_TIMEOUT,
            write=settings.LLM_HTTP_WRITE_TIMEOUT,
            pool=settings.LLM_HTTP_POOL_TIMEOUT,
        ),
        "follow_redirects": False,
        "trust_env": False,
        "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
    }


# --- the total deadline of a sync request ----------------------------------------------------
# httpx's timeouts bound each socket operation, not the whole exchange: a provider that
# trickles its status line, headers or body a byte at a time keeps every read short and a
# call open forever. ``request`` hands its deadline to http11, which cuts every socket
# operation and the pool wait to it. Every connection of the sync client (streams) goes
# through ``_DeadlineStream``, which shortens each connect, read and write to what is left
# of the calling thread's deadline (``deadline_at``), so the deadline covers connect, head
# and body; the wait for a pooled connection is cut to it when the request is built
# (``_pool_timeout``). Name resolution inside a connect is the system resolver's and cannot
# be cut. The async client needs none of this: asyncio.timeout bounds its whole exchange.
_deadline = threading.local()


def _bounded(timeout: float | None, exc: type[Exception]) -> float | None:
    at = getattr(_deadline, "at", None)
    return timeout if at is None else http11.cut_to_deadline(timeout, at, exc)


@contextlib.contextmanager
def deadline_at(at: float | None):
    """Bound this thread's sync HTTP work until ``at`` (time.monotonic()); None: unbounded."""
    previous = getattr(_deadline, "at", None)
    _deadline.at = at
    try:
        yield
    finally:
        _deadline.at = previous


def _pool_timeout(pool: float | None) -> float | None:
    """The wait for a pooled connection, cut to what is left of the thread's deadline:
    httpcore waits for it on a lock, not a socket, so _DeadlineStream cannot reach it."""
    at = getattr(_deadline, "at", None)
    if at is None:
        return pool
    left = max(at - time.monotonic(), 0.0)
    return left if pool is None else min(pool, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        return _DeadlineStream(
            self._stream.start_tls(
                ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout)
            )
        )

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend):
        self._backend = backend

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return _DeadlineStream(
            self._backend.connect_tcp(
                host, port, _bounded(timeout, httpcore.ConnectTimeout), local_address,
                socket_options,
            )
        )

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _DeadlineStream(
            self._backend.connect_unix_socket(
                path, _bounded(timeout, httpcore.ConnectTimeout), socket_options
            )
        )

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _sync_transport() -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport(retries=0, limits=_limits())
    # httpx does not expose httpcore's network_backend; its pool keeps it here (httpcore 1.x).
    pool = transport._pool
    pool._network_backend = _DeadlineBackend(pool._network_backend)
    return transport


_lock = threading.Lock()
_sync_client: httpx.Client | None = None
_http11_pool: http11.Pool | None = None
_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def client() -> httpx.Client:
    global _sync_client
    if _sync_client is None:
        with _lock:
            if _sync_client is None:
                _sync_client = httpx.Client(transport=_sync_transport(), **_client_options())
    return _sync_client


def _transport() -> http11.Pool:
    """This process's http11 pool (a forked child builds its own: no shared sockets)."""
    global _http11_pool
    pool = _http11_pool
    if pool is None or pool.pid != os.getpid():
        with _lock:
            pool = _http11_pool
            if pool is None or pool.pid != os.getpid():
                pool = _http11_pool = http11.Pool(
                    connect=settings.LLM_HTTP_CONNECT_TIMEOUT,
                    read=settings.LLM_HTTP_READ_TIMEOUT,
                    write=settings.LLM_HTTP_WRITE_TIMEOUT,
                    pool=settings.LLM_HTTP_POOL_TIMEOUT,
                    max_connections=settings.LLM_HTTP_MAX_CONNECTIONS,
                    max_keepalive=settings.LLM_HTTP_MAX_KEEPALIVE,
                    ssl_context=_ssl_context,
                )
    return pool


def _ssl_context() -> ssl.SSLContext:
    """The verification httpx's transports use (certifi's CAs, or SSL_CERT_FILE/_DIR),
    offering HTTP/1.1 only, as httpcore does without HTTP/2."""
    context = httpx.create_ssl_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


def async_client() -> httpx.AsyncClient:
    """The AsyncClient of the running event loop (an AsyncClient cannot cross loops)."""
    loop = asyncio.get_running_loop()
    found = _async_clients.get(loop)
    if found is None:
        found = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(retries=0, limits=_limits()), **_client_options()
        )
        _async_clients[loop] = found
    return found


def reset_clients() -> None:
    """Drop the pooled clients (settings changed, or a forked child must not share sockets)."""
    global _sync_client, _http11_pool
    with _lock:
        old, _sync_client = _sync_client, None
        old_pool, _http11_pool = _http11_pool, None
    if old is not None:
        old.close()
    if old_pool is not None and old_pool.pid == os.getpid():
        old_pool.close()
    _async_clients.clear()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs) -> None:
    if setting.startswith("LLM_HTTP_"):
        reset_clients()


def _prepare(api_key: str | None, body: Any, headers: dict[str, str] | None):
    out = dict(headers or {})
    if api_key:
        out["Authorization"] = f"Bearer {api_key}"
    content = None
    if body is not None:
        content = json.dumps(body, separators=(",", ":")).encode("utf-8")
        out["Content-Type"] = "application/json"
    return out, content


def _failure(
    exc: Exception, api_key: str | None, deadline: float | None = None
) -> TransportFailure:
    """``exc`` as a TransportFailure; a timeout once ``deadline`` (time.monotonic()) passed
    is the total deadline's doing, whatever the socket operation that noticed it."""
    if isinstance(exc, httpx.TimeoutException | httpcore.TimeoutException | http11.Timeout):
        kind, what = "timeout", f"timed out ({type(exc).__name__})"
        if deadline is not None and time.monotonic() >= deadline:
            return TransportFailure(kind, f"{what}: {_deadline_passed()}")
    elif isinstance(exc, httpx.ConnectError | httpcore.ConnectError | http11.ConnectError):
        kind, what = "connect_error", "could not connect"
    elif isinstance(exc, httpx.InvalidURL):
        kind, what = "transport_error", "the provider base URL is invalid"
    else:
        kind, what = "transport_error", f"transport error ({type(exc).__name__})"
    detail = scrub(str(exc), api_key)[:200]
    return TransportFailure(kind, f"{what}: {detail}" if detail else what)


def _deadline_passed() -> str:
    return f"the total request deadline of {settings.LLM_HTTP_TOTAL_TIMEOUT:g} s passed"


def _too_large(limit: int) -> TransportFailure:
    return TransportFailure("response_too_large", f"the response is larger than {limit} bytes")


def request(
    method: str,
    url: str,
    *,
    api_key: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> HttpReply:
    """One HTTP exchange, over within ``LLM_HTTP_TOTAL_TIMEOUT`` (pool wait, connect,
    TLS, request, status line, headers and body together) or the thread's ``deadline_at``
    if that comes first. Raises TransportFailure when there is no complete answer.

    It goes through ``http11`` (sockets and httptools' C parser), not httpx: a round trip
    to the stub provider took 0.82-0.87 ms at p50 through httpcore's pool and h11 against
    0.37 ms over a socket with httptools, most of what kept the gateway over its target
    (bench/gateway_overhead.py, 1.5 ms added at p50). Nothing is asked for compressed,
    so the body is read as sent."""
    limit = settings.LLM_HTTP_MAX_RESPONSE_BYTES
    total = time.monotonic() + settings.LLM_HTTP_TOTAL_TIMEOUT
    at = getattr(_deadline, "at", None)
    deadline = total if at is None or at > total else at
    try:
        target = _target(url)
        out_headers, content = _prepare(api_key, body, headers)
        data = http11.encode_request(
            method, target.path, target.host, {**_DEFAULT_HEADERS, **out_headers}, content
        )
        status, raw_headers, content = _transport().request(
            target.origin, data, deadline=deadline, limit=limit, head_only=method == "HEAD"
        )
        return HttpReply(status, _header_dict(raw_headers), content)
    except http11.TooLarge:
        failure = _too_large(limit)
    except (http11.Error, httpx.HTTPError, httpx.InvalidURL) as exc:
        failure = _failure(exc, api_key, total)
    # Raised outside the except block so that not even __context__ leads to the error.
    raise failure


_DEFAULT_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json"}


@dataclass(frozen=True, slots=True)
class _Target:
    origin: http11.Origin  # scheme, host, port: what a connection is for
    host: bytes  # the Host header
    path: bytes  # the request target: path and query


_targets: dict[str, _Target] = {}


def _target(url: str) -> _Target:
    """``url`` checked by httpx's parser (httpx.InvalidURL) once per distinct URL:
    providers' URLs come from settings, so there are few."""
    found = _targets.get(url)
    if found is None:
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") and parsed.scheme and parsed.host:
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{parsed.scheme}://'."
            )
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise httpx.UnsupportedProtocol(
                "Request URL is missing an 'http://' or 'https://' protocol."
            )
        host = parsed.raw_host
        header = b"[%s]" % host if b":" in host else host
        if parsed.port is not None:  # httpx leaves out the scheme's default port
            header += b":%d" % parsed.port
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        found = _Target((parsed.scheme, host.decode("ascii"), port), header, parsed.raw_path)
        if len(_targets) > 1000:
            _targets.clear()
        _targets[url] = found
    return found


def _header_dict(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names; a repeated header's values joined with ", " (as httpx does)."""
    out: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        try:
            text = value.decode("ascii")
        except UnicodeDecodeError:
            text = value.decode("utf-8", "replace")
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


async def arequest(
    method: str,
    url: str,
    *,
    api_key: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> HttpReply:
    """The async twin of ``request``: asyncio.timeout cancels whatever the exchange waits
    on when the deadline passes (pool, name resolution, connect, head, body)."""
    out_headers, content = _prepare(api_key, body, headers)
    limit = settings.LLM_HTTP_MAX_RESPONSE_BYTES
    try:
        async with asyncio.timeout(settings.LLM_HTTP_TOTAL_TIMEOUT):
            async with async_client().stream(
                method, url, content=content, headers=out_headers
            ) as response:
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise _too_large(limit)
                    chunks.append(chunk)
                return HttpReply(
                    response.status_code, dict(response.headers.items()), b"".join(chunks)
                )
    except TimeoutError:
        failure = TransportFailure("timeout", f"timed out: {_deadline_passed()}")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        failure = _failure(exc, api_key)
    raise failure


# --- streamed answers -----------------------------------------------------------------------
# A stream has no total deadline (a long answer is fine); it is bounded instead by the
# longest silence on the connection (``read_timeout``, every read, the head included) and,
# in the router, by the time to the first content.


class StreamReply:
    """An open streamed answer. Iterate for raw body bytes (TransportFailure on a stall or
    a broken connection); ``close()`` ends it and drops the connection at once."""

    def __init__(self, response: httpx.Response, api_key: str | None):
        self.status_code = response.status_code
        self.headers = dict(response.headers.items())
        self._response = response
        self._api_key = api_key

    def read_whole(self) -> HttpReply:
        """The rest of the body as an HttpReply (an error answer), within the size cap."""
        limit = settings.LLM_HTTP_MAX_RESPONSE_BYTES
        chunks, size = [], 0
        for chunk in self:
            size += len(chunk)
            if size > limit:
                self.close()
                raise _too_large(limit)
            chunks.append(chunk)
        return HttpReply(self.status_code, self.headers, b"".join(chunks))

    def __iter__(self):
        try:
            yield from self._response.iter_raw()
            return
        except httpx.HTTPError as exc:
            failure = _failure(exc, self._api_key)
        raise failure

    def close(self) -> None:
        self._response.close()


class AsyncStreamReply:
    """The async twin of StreamReply; each read waits at most ``read_timeout``."""

    def __init__(self, response: httpx.Response, api_key: str | None, read_timeout: float):
        self.status_code = response.status_code
        self.headers = dict(response.headers.items())
        self._response = response
        self._api_key = api_key
        self._raw = response.aiter_raw()
        self._read_timeout = read_timeout

    async def read_whole(self) -> HttpReply:
        limit = settings.LLM_HTTP_MAX_RESPONSE_BYTES
        chunks, size = [], 0
        while (chunk := await self.next_bytes()) is not None:
            size += len(chunk)
            if size > limit:
                await self.aclose()
                raise _too_large(limit)
            chunks.append(chunk)
        return HttpReply(self.status_code, self.headers, b"".join(chunks))

    async def next_bytes(self, timeout: float | None = None) -> bytes | None:
        """The next piece of the body, None at its end; waits at most ``timeout`` (default:
        the read timeout)."""
        try:
            async with asyncio.timeout(timeout or self._read_timeout):
                return await anext(self._raw)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            failure = TransportFailure("timeout", "the stream stalled (no data in time)")
        except httpx.HTTPError as exc:
            failure = _failure(exc, self._api_key)
        raise failure

    async def aclose(self) -> None:
        await self._response.aclose()


def _stream_request(client_, url: str, api_key: str | None, body: Any, read_timeout: float):
    out_headers, content = _prepare(api_key, body, {"Accept": "text/event-stream"})
    timeout = httpx.Timeout(
        connect=settings.LLM_HTTP_CONNECT_TIMEOUT,
        read=read_timeout,
        write=settings.LLM_HTTP_WRITE_TIMEOUT,
        pool=_pool_timeout(settings.LLM_HTTP_POOL_TIMEOUT),
    )
    return client_.build_request("POST", url, content=content, headers=out_headers,
                                 timeout=timeout)


def open_stream(url: str, *, api_key: str | None, body: Any, read_timeout: float) -> StreamReply:
    """POST ``body`` and return once the answer's head has arrived (TransportFailure when
    none does within the timeouts, or the thread's ``deadline_at``). The caller must
    close() the reply."""
    c = client()
    try:
        response = c.send(_stream_request(c, url, api_key, body, read_timeout), stream=True)
        return StreamReply(response, api_key)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        failure = _failure(exc, api_key)
    raise failure


async def aopen_stream(
    url: str, *, api_key: str | None, body: Any, read_timeout: float, head_timeout: float
) -> AsyncStreamReply:
    """The async twin of ``open_stream``: the head must arrive within ``head_timeout``
    (connect included); the caller must aclose() the reply."""
    c = async_client()
    try:
        async with asyncio.timeout(head_timeout):
            response = await c.send(
                _stream_request(c, url, api_key, body, read_timeout), stream=True
            )
        return AsyncStreamReply(response, api_key, read_timeout)
    except TimeoutError:
        failure = TransportFailure("timeout", "no answer in time")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        failure = _failure(exc, api_key)
    raise failure
