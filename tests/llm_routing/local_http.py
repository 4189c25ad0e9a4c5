"""A loopback server a test scripts byte by byte, to see what the sync transport sends and
how it takes what comes back (answers no real provider or stub would give)."""

from __future__ import annotations

import re
import socket
import ssl
import threading
from collections.abc import Callable

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class LocalServer:
    """Runs ``serve(server, conn)`` in a thread for each accepted connection (closed after
    it returns); ``tls``: a server-side SSLContext to wrap each connection in."""

    def __init__(self, serve: Callable[[LocalServer, socket.socket], None],
                 tls: ssl.SSLContext | None = None):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        self._serve, self._tls, self._held = serve, tls, []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/v1/models", scheme: str = "http",
            host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self._held.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            self._serve(self, conn)
        except OSError:
            pass
        finally:
            conn.close()

    def read_request(self, conn: socket.socket) -> bytes:
        """One whole request (head and Content-Length body); b"" at end of stream."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return b""
            data += chunk
        head = data.partition(b"\r\n\r\n")[0]
        length = re.search(rb"(?im)^content-length: *(\d+)", head)
        while length and len(data) < len(head) + 4 + int(length.group(1)):
            data += conn.recv(65536)
        self.requests.append(data)
        return data

    def close(self) -> None:
        self.listener.close()
        for conn in self._held:
            conn.close()


def keep_alive(answer: bytes) -> Callable[[LocalServer, socket.socket], None]:
    """Answer every request on a connection with ``answer``."""

    def serve(server: LocalServer, conn: socket.socket) -> None:
        while server.read_request(conn):
            conn.sendall(answer)

    return serve


def once(answer: bytes | None) -> Callable[[LocalServer, socket.socket], None]:
    """Answer one request with ``answer`` (None: none), then close the connection."""

    def serve(server: LocalServer, conn: socket.socket) -> None:
        if server.read_request(conn) and answer is not None:
            conn.sendall(answer)

    return serve
