"""A small HTTP/1.1 keep-alive client over ``socket``/``ssl`` with httptools' C parser.

Private to ``http_client.request`` (non-streamed provider calls): httpcore's pool and
h11's pure-Python parser cost ~0.45 ms more a round trip than this on the dev box, most of
what the gateway added over its benchmark target. Streams and async calls stay on httpx.

What it does, and nothing more: one pool per process (``Pool.pid`` tells a forked child
to build its own) of at most ``max_connections`` connections, all hosts together, of
which at most ``max_keepalive`` idle ones are kept for ``keepalive_expiry`` seconds; a
thread waits for a free connection at most the pool timeout. Every socket operation waits
at most its own timeout and never past the caller's ``deadline`` (time.monotonic()). A
connection is reused only after a complete keep-alive answer, and only if it is quiet
(not closed, nothing unasked to read) when taken again; a reused connection that the
server closed before a single byte of the answer came is replaced by a fresh one, once.
No redirects, proxies, compression, cookies, upgrades or HTTP/2.

Failures are ``Error`` subclasses whose ``kind`` is a TransportFailure kind; http_client
scrubs their messages and turns them into TransportFailure.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import httptools

_RECV_BYTES = 65536
_MAX_HEAD_BYTES = 100 * 1024  # as h11: a status line and headers larger than this are refused
_DROPPED = (ConnectionError, ssl.SSLEOFError)  # what a peer's close looks like on a send/recv

Origin = tuple[str, str, int]  # scheme, host, port


class Error(Exception):
    kind = "transport_error"


class ConnectError(Error):
    kind = "connect_error"


class Timeout(Error):
    kind = "timeout"


class ConnectTimeout(Timeout):
    pass


class PoolTimeout(Timeout):
    pass


class ReadTimeout(Timeout):
    pass


class WriteTimeout(Timeout):
    pass


class ReadError(Error):
    pass


class WriteError(Error):
    pass


class RemoteProtocolError(Error):
    pass


class LocalProtocolError(Error):
    pass


class TooLarge(Error):
    kind = "response_too_large"


class _Stale(Exception):
    """A reused connection the server had closed: nothing of an answer came."""


def cut_to_deadline(timeout: float | None, deadline: float, exc: type[Exception]) -> float:
    """``timeout`` cut to what is left until ``deadline``; ``exc`` once nothing is."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise exc("the request deadline passed")
    return left if timeout is None or timeout > left else timeout


def encode_request(
    method: str, target: bytes, host: bytes, headers: dict[str, str], body: bytes | None
) -> bytes:
    """The request's bytes: request line, Host, ``headers`` (latin-1; no CR, LF or NUL in
    them), Content-Length when there is a body, then the body."""
    lines = [b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (method.encode("ascii"), target, host)]
    for name, value in headers.items():
        line = f"{name}: {value}\r\n"
        if line.count("\r") != 1 or "\n" in line[:-1] or "\0" in line:
            raise LocalProtocolError(f"the header {name[:40]!r} holds a line break or NUL")
        try:
            lines.append(line.encode("latin-1"))
        except UnicodeEncodeError:
            raise LocalProtocolError(f"the header {name[:40]!r} is not latin-1") from None
    if body is not None:
        lines.append(b"Content-Length: %d\r\n" % len(body))
    lines.append(b"\r\n")
    if body:
        lines.append(body)
    return b"".join(lines)


class Connection:
    __slots__ = ("sock", "origin", "idle_since")

    def __init__(self, sock: socket.socket, origin: Origin):
        self.sock = sock
        self.origin = origin
        self.idle_since = 0.0

    def send(self, data: bytes, timeout: float) -> None:
        self.sock.settimeout(timeout)
        self.sock.sendall(data)

    def recv(self, timeout: float) -> bytes:
        self.sock.settimeout(timeout)
        return self.sock.recv(_RECV_BYTES)

    def readable(self) -> bool:
        """Whether a read would not block: EOF, a reset or bytes nobody asked for, which
        all rule the connection out for another request (httpcore's is_socket_readable)."""
        fd = self.sock.fileno()
        if fd < 0:
            return True
        poll = select.poll()
        poll.register(fd, select.POLLIN)
        return bool(poll.poll(0))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class _Answer:
    """httptools callbacks collecting one answer; 1xx informational answers are skipped."""

    __slots__ = ("parser", "head_only", "status", "headers", "body", "size", "sized",
                 "head_done", "done", "extra", "keep_alive")

    def __init__(self, head_only: bool):
        self.parser: Any = httptools.HttpResponseParser(self)  # None once read
        self.head_only = head_only
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.size = 0
        self.sized = self.head_done = self.done = self.extra = self.keep_alive = False

    def on_message_begin(self) -> None:
        if self.done:
            self.extra = True  # something after the answer: the connection is not clean
            return
        self.headers, self.body, self.size, self.sized = [], [], 0, False

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.done:
            self.headers.append((name, value))
            lower = name.lower()
            if lower == b"content-length" or (
                lower == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                self.sized = True

    def on_headers_complete(self) -> None:
        if self.done:
            return
        self.status = self.parser.get_status_code()
        if self.status >= 200:
            self.head_done = True
            self.keep_alive = self.parser.should_keep_alive()
            self.done = self.head_only

    def on_body(self, data: bytes) -> None:
        if not self.done:
            self.size += len(data)
            self.body.append(data)

    def on_message_complete(self) -> None:
        if self.head_done:
            self.done = True


class Pool:
    """The connections of one process; thread-safe."""

    def __init__(
        self,
        *,
        connect: float | None,
        read: float | None,
        write: float | None,
        pool: float | None,
        max_connections: int,
        max_keepalive: int,
        ssl_context: Callable[[], ssl.SSLContext],
        keepalive_expiry: float = 30.0,
    ):
        self.pid = os.getpid()
        self.connect_timeout, self.read_timeout = connect, read
        self.write_timeout, self.pool_timeout = write, pool
        self.max_connections, self.max_keepalive = max_connections, max_keepalive
        self.keepalive_expiry = keepalive_expiry
        self._ssl_factory = ssl_context
        self._ssl: ssl.SSLContext | None = None
        self._cond = threading.Condition(threading.Lock())
        self._idle: list[Connection] = []  # oldest first
        self._open = 0  # connections open, idle or in use (or being opened)
        self._closed = False

    def request(
        self, origin: Origin, data: bytes, *, deadline: float, limit: int,
        head_only: bool = False,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Send ``data`` (a whole request) to ``origin``; (status, raw headers, body)."""
        conn = self._acquire(origin, deadline)
        keep = False
        try:
            if conn is None:
                conn = self._connect(origin, deadline)
                answer, keep = self._exchange(conn, data, deadline, limit, head_only, False)
            else:
                try:
                    answer, keep = self._exchange(conn, data, deadline, limit, head_only, True)
                except _Stale:
                    # The server closed the idle connection as we sent: once, on a new one.
                    conn.close()
                    conn = None
                    conn = self._connect(origin, deadline)
                    answer, keep = self._exchange(conn, data, deadline, limit, head_only, False)
        finally:
            self._release(conn, keep)
        return answer.status, answer.headers, b"".join(answer.body)

    def close(self) -> None:
        """Close the idle connections; those in use are closed when they come back."""
        with self._cond:
            self._closed = True
            for conn in self._idle:
                conn.close()
            self._idle.clear()
            self._cond.notify_all()

    # --- the pool ----------------------------------------------------------------------------
    def _acquire(self, origin: Origin, deadline: float) -> Connection | None:
        """A quiet idle connection to ``origin``, or None: a slot is taken for a new one."""
        cond = self._cond
        with cond:
            end = None
            while True:
                now = time.monotonic()
                idle = self._idle
                while idle and now - idle[0].idle_since > self.keepalive_expiry:
                    self._drop(idle.pop(0))
                for i in range(len(idle) - 1, -1, -1):
                    if idle[i].origin == origin:
                        conn = idle.pop(i)
                        if not conn.readable():
                            return conn
                        self._drop(conn)
                        break
                else:
                    if self._open < self.max_connections:
                        self._open += 1
                        return None
                    if idle:  # room for this origin: close the oldest idle connection
                        self._drop(idle.pop(0))
                        continue
                    if end is None:
                        wait = self.pool_timeout
                        end = deadline if wait is None else min(deadline, now + wait)
                    if now >= end:
                        cond.notify()  # pass on a wake-up this thread may have taken
                        raise PoolTimeout("no connection came free in time")
                    cond.wait(end - now)

    def _drop(self, conn: Connection) -> None:
        conn.close()
        self._open -= 1

    def _release(self, conn: Connection | None, keep: bool) -> None:
        with self._cond:
            if (conn is not None and keep and not self._closed
                    and len(self._idle) < self.max_keepalive and self.pid == os.getpid()):
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            else:
                if conn is not None:
                    conn.close()
                self._open -= 1
            self._cond.notify()

    # --- one connection ----------------------------------------------------------------------
    def _connect(self, origin: Origin, deadline: float) -> Connection:
        scheme, host, port = origin
        sock = self._open_socket(host, port, deadline)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock.settimeout(cut_to_deadline(self.connect_timeout, deadline, ConnectTimeout))
                if self._ssl is None:
                    self._ssl = self._ssl_factory()
                sock = self._ssl.wrap_socket(sock, server_hostname=host)
        except TimeoutError:
            sock.close()
            raise ConnectTimeout("timed out in the TLS handshake") from None
        except OSError as exc:
            sock.close()
            raise ConnectError(str(exc) or type(exc).__name__) from None
        except BaseException:
            sock.close()
            raise
        return Connection(sock, origin)

    def _open_socket(self, host: str, port: int, deadline: float) -> socket.socket:
        """A TCP connection to the first of the host's addresses that accepts, each try cut
        to what is left of the deadline (socket.create_connection would give each address
        the whole connect timeout again). Name resolution is the system's: it cannot be
        cut."""
        try:
            addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from None
        failure: Error = ConnectError(f"no address for {host}")
        for family, kind, proto, _, address in addresses:
            timeout = cut_to_deadline(self.connect_timeout, deadline, ConnectTimeout)
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                sock.connect(address)
                return sock
            except TimeoutError:
                failure = ConnectTimeout("timed out connecting")
            except OSError as exc:
                failure = ConnectError(str(exc) or type(exc).__name__)
            sock.close()
        raise failure

    def _exchange(
        self, conn: Connection, data: bytes, deadline: float, limit: int, head_only: bool,
        reused: bool,
    ) -> tuple[_Answer, bool]:
        """Send the request and read its whole answer; (answer, reusable)."""
        try:
            conn.send(data, cut_to_deadline(self.write_timeout, deadline, WriteTimeout))
        except TimeoutError:
            raise WriteTimeout("timed out sending the request") from None
        except OSError as exc:
            if reused and isinstance(exc, _DROPPED):
                raise _Stale from None
            raise WriteError(str(exc) or type(exc).__name__) from None
        answer = _Answer(head_only)
        try:
            keep = self._read(conn, answer, deadline, limit, reused)
        finally:
            answer.parser = None  # the parser holds the answer's callbacks: no cycle left
        return answer, keep

    def _read(
        self, conn: Connection, answer: _Answer, deadline: float, limit: int, reused: bool
    ) -> bool:
        """Feed the answer to its parser until it is complete; whether the connection can
        serve another request."""
        parser = answer.parser
        received = 0
        while not answer.done:
            try:
                chunk = conn.recv(cut_to_deadline(self.read_timeout, deadline, ReadTimeout))
            except TimeoutError:
                raise ReadTimeout("timed out reading the answer") from None
            except OSError as exc:
                if reused and not received and isinstance(exc, _DROPPED):
                    raise _Stale from None
                raise ReadError(str(exc) or type(exc).__name__) from None
            if not chunk:
                if answer.head_done and not answer.sized:
                    return False  # no length given: the body ends with the connection
                if reused and not received:
                    raise _Stale
                raise RemoteProtocolError(
                    "the server closed the connection before the answer was complete"
                    if received else "the server closed the connection without an answer"
                )
            received += len(chunk)
            try:
                parser.feed_data(chunk)
            except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
                if not answer.done:
                    raise RemoteProtocolError(
                        f"malformed answer ({type(exc).__name__}: {exc})"
                    ) from None
                answer.extra = True
            if answer.size > limit:
                raise TooLarge(f"the response is larger than {limit} bytes")
            if not answer.head_done and received > _MAX_HEAD_BYTES:
                raise RemoteProtocolError("the answer's head is too large")
        return answer.keep_alive and not answer.extra
