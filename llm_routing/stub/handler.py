"""The HTTP side of the stub provider: routing paths to ``StubProvider`` methods."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from llm_routing.stub import streaming
from llm_routing.stub.server import Behaviour
from llm_routing.stub.streaming import StreamPlan

_BEHAVIOUR_FIELDS = {f.name for f in dataclasses.fields(Behaviour)}


class StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real provider
    disable_nagle_algorithm = True
    server_version = "llm-stub/1"
    stub: Any = None  # set by server._handler_for

    def log_message(self, format, *args):  # noqa: A002 - the stub is quiet
        pass

    # --- plumbing ------------------------------------------------------------------------
    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        provider = self._split()[0]
        behaviour = self.stub._state(provider).behaviour if provider else None
        if behaviour is not None and (behaviour.trickle or behaviour.trickle_body):
            pauses = (behaviour.trickle, behaviour.trickle_body or behaviour.trickle)
            return self._trickle(status, raw, headers or {}, *pauses)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def _trickle(
        self, status: int, raw: bytes, headers: dict[str, str], head_pause: float,
        body_pause: float,
    ) -> None:
        """The answer a byte at a time (the head at once when ``head_pause`` is 0): each
        read is quick, the answer never is."""
        head = [f"HTTP/1.1 {status} OK", "Content-Type: application/json",
                f"Content-Length: {len(raw)}", *(f"{k}: {v}" for k, v in headers.items())]
        self.close_connection = True
        try:
            for data, pause in (
                (("\r\n".join(head) + "\r\n\r\n").encode(), head_pause),
                (raw, body_pause),
            ):
                for piece in [bytes([b]) for b in data] if pause else [data]:
                    self.wfile.write(piece)
                    self.wfile.flush()
                    time.sleep(pause)
        except OSError:
            pass  # the client gave up: that is the point

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return ValueError

    def _split(self) -> tuple[str, str]:
        """(provider, rest) for /<provider>/v1/<rest>; ("", "") when the path is not one."""
        parts = self.path.split("?")[0].strip("/").split("/", 2)
        if len(parts) == 3 and parts[1] == "v1":
            return parts[0], "/" + parts[2]
        return "", ""

    # --- verbs ---------------------------------------------------------------------------
    def do_GET(self):
        if self.path.startswith("/_stub/"):
            return self._control("GET", None)
        provider, rest = self._split()
        if not provider:
            return self._send(404, {"error": {"message": "no such path"}})
        state = self.stub._state(provider)
        auth = self.headers.get("Authorization")
        key_ok = self.stub.key_ok(provider, auth)
        state.requests.append((rest, None, key_ok))
        if state.behaviour.down:
            self.close_connection = True
            return
        if rest == "/models":
            needs_key = provider == "groq"
            if (needs_key or auth) and not key_ok:
                return self._send(401, {"error": {"message": "Invalid API Key"}})
            from llm_routing.stub import catalogue

            return self._send(200, catalogue.models_body(provider))
        if rest in ("/key", "/auth/key") and provider == "openrouter":
            if not key_ok:
                return self._send(401, {"error": {"message": "No auth credentials found"}})
            return self._send(200, self.stub.key_info())
        return self._send(404, {"error": {"message": "no such path"}})

    def do_POST(self):
        payload = self._body()
        if self.path.startswith("/_stub/"):
            return self._control("POST", payload)
        provider, rest = self._split()
        if rest != "/chat/completions":
            return self._send(404, {"error": {"message": "no such path"}})
        state = self.stub._state(provider)
        key_ok = self.stub.key_ok(provider, self.headers.get("Authorization"))
        model = payload.get("model") if isinstance(payload, dict) else None
        state.requests.append((rest, model, key_ok))
        behaviour = state.behaviour
        if behaviour.down:
            self.close_connection = True
            return
        if behaviour.delay:
            time.sleep(behaviour.delay)
        if not key_ok:
            return self._send(401, {"error": {"message": "Invalid API Key", "code": 401}})
        status, headers, body = self.stub.chat(provider, payload)
        if isinstance(body, StreamPlan):
            return self._stream(headers, body)
        self._send(status, body, headers)

    # --- streams ---------------------------------------------------------------------------
    def _write_chunk(self, data: bytes) -> None:
        self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _write(self, data: bytes) -> None:
        pause = getattr(self, "_pause", 0.0)
        for piece in ([bytes([b]) for b in data] if pause else [data]):
            self.wfile.write(piece)
            self.wfile.flush()
            if pause:
                time.sleep(pause)

    def _stream(self, headers: dict[str, str], plan: StreamPlan) -> None:
        """Write ``plan`` as SSE with chunked encoding, striking its fault on cue."""
        head = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                "Transfer-Encoding": "chunked", **headers}
        self._pause = self.stub._state(self._split()[0]).behaviour.trickle
        try:
            self._write(("HTTP/1.1 200 OK\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n").encode())
        except OSError:
            self.close_connection = True
            return
        sent, end = 0, "done"
        try:
            for event in plan.head:
                self._write_chunk(event)
            for event in [*plan.content, None]:
                if plan.fault is not None and sent == plan.fault_after:
                    if plan.fault == "stall":
                        time.sleep(plan.stall_seconds)
                    elif plan.fault == "cut":
                        end = "cut"
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    elif plan.fault == "error":
                        end = "error"
                        self._write_chunk(streaming.error_event())
                        break
                    elif plan.fault == "malformed":
                        end = "malformed"
                        self._write_chunk(streaming.MALFORMED_EVENT)
                        break
                if event is None:
                    break
                if sent and plan.chunk_delay:
                    time.sleep(plan.chunk_delay)
                self._write_chunk(event)
                sent += 1
            if end == "done":
                for event in plan.tail:
                    self._write_chunk(event)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            end = "client_closed"
            self.close_connection = True
        finally:
            plan.log.append({"chunks": sent, "end": end, "ended_at": time.monotonic()})

    # --- control -------------------------------------------------------------------------
    def _control(self, method: str, payload: Any):
        parts = self.path.split("?")[0].strip("/").split("/")
        if method == "GET" and parts == ["_stub", "stats"]:
            return self._send(200, self.stub.stats())
        if method == "POST" and parts == ["_stub", "reset"]:
            self.stub.reset()
            return self._send(200, {"ok": True})
        if method == "POST" and len(parts) == 3 and isinstance(payload, dict):
            provider, action = parts[1], parts[2]
            if action == "configure":
                unknown = set(payload) - _BEHAVIOUR_FIELDS
                if unknown:
                    return self._send(400, {"error": {"message": f"unknown: {sorted(unknown)}"}})
                behaviour = self.stub.configure(provider, **payload)
                return self._send(200, dataclasses.asdict(behaviour))
            if action == "enqueue" and isinstance(payload.get("status"), int):
                self.stub.enqueue(
                    provider, payload["status"], payload.get("headers"), payload.get("body")
                )
                return self._send(200, {"ok": True})
        return self._send(400, {"error": {"message": "unknown control request"}})
