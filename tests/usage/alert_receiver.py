"""A real webhook receiver for the budget alert tests: an HTTP server thread on 127.0.0.1
that records every POST and answers as told (200, 500, or not until released)."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    posts: list[Received] = field(default_factory=list)
    status: int = 200
    hold: threading.Event | None = None  # set: answer only once released
    holding: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    tls: bool = False

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        if self.tls:  # by name: the certificate's, which the sender checks
            return f"https://localhost:{port}/hooks/budget?source=llm"
        return f"http://{host}:{port}/hooks/budget?source=llm"

    def verified(self, secret: str) -> list[dict]:
        """The payloads whose signature verifies as docs/usage.md says to verify it."""
        good = []
        for post in self.posts:
            timestamp = post.headers["x-budget-alert-timestamp"]
            expected = hmac.new(
                secret.encode(), f"{timestamp}.".encode() + post.body, hashlib.sha256
            ).hexdigest()
            signature = post.headers["x-budget-alert-signature"]
            if hmac.compare_digest(signature, f"v1={expected}"):
                good.append(post.json)
        return good


def start_receiver(tls: ssl.SSLContext | None = None) -> Receiver:
    """A receiver on 127.0.0.1; with ``tls`` (a server context) it speaks https."""
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.posts.append(
                    Received({k.lower(): v for k, v in self.headers.items()}, body)
                )
            if receiver.hold is not None:
                receiver.holding.set()
                receiver.hold.wait(30)
            try:
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the sender gave up waiting

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    receiver = Receiver(server, tls=tls is not None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver
