"""A loopback OpenAI-compatible server that acts like Groq, OpenRouter and LLM7.

Base URL per provider: ``http://127.0.0.1:<port>/<provider>/v1`` with ``/models``,
``/chat/completions`` and (OpenRouter) ``/key``. Each provider accepts its deterministic
good key (``good_key(provider)``, derived at run time, never a committed literal) plus any
key added with ``accept_key``; anything else is a 401.

Tests script it through the ``StubProvider`` object (``configure``, ``enqueue``, ``reset``)
and operators through control endpoints: ``POST /_stub/reset``,
``POST /_stub/<provider>/configure`` (a JSON object of ``Behaviour`` fields),
``POST /_stub/<provider>/enqueue`` ({"status", "headers", "body"}), ``GET /_stub/stats``.
It binds to 127.0.0.1 only and never makes a network call.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROVIDERS = ("groq", "openrouter", "llm7")


@dataclass
class Behaviour:
    """How one stubbed provider answers chat completions (all fields scriptable)."""

    status: int | None = None  # answer every chat request with this HTTP status
    rate_limit_after: int | None = None  # 429 once this many requests were answered
    retry_after: str | None = "7"  # Retry-After sent with a 429
    daily_cap: int | None = None  # requests per day; beyond it a 429 until the reset
    daily_limit_header: int = 14_400  # what Groq's x-ratelimit-limit-requests reports
    daily_reset: str = "2m59.56s"  # Groq's x-ratelimit-reset-requests
    delay: float = 0.0  # seconds to wait before answering
    error_in_200: bool = False  # HTTP 200 whose body is an error object
    malformed: bool = False  # HTTP 200 whose body is not JSON
    content: str = "Hello from the stub provider."
    down: bool = False  # close the connection without answering
    trickle: float = 0.0  # seconds between bytes of the whole answer, status line included
    trickle_body: float = 0.0  # seconds between bytes of the body only (the head at once)
    # Every Nth answered request waits slow_delay seconds *after* its rate-limit headers
    # were computed, so its report of today's use arrives late (0: off).
    slow_every: int = 0
    slow_delay: float = 0.5
    # Streams ("stream": true; llm_routing/stub/streaming.py): content chunks (None: a word
    # each), the pause between them, and faults after N content chunks (0: before any).
    stream_chunks: int | None = None
    stream_chunk_delay: float = 0.0
    stream_error_after: int | None = None  # an error event (HTTP 200), then the end
    stream_cut_after: int | None = None  # the connection drops: no finish reason, no [DONE]
    stream_stall_after: int | None = None  # silence for stream_stall_seconds
    stream_stall_seconds: float = 30.0
    stream_malformed_after: int | None = None  # an event that is not JSON
    stream_usage: bool = True  # False: no usage figures in a stream, even when asked
    # Token classes in ``usage`` (None: the details are not sent). Cached tokens are part of
    # prompt_tokens; reasoning tokens are added to completion_tokens, which includes them as
    # OpenAI's and OpenRouter's do.
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    # OpenRouter: a bring-your-own-key answer, whose ``cost`` is only OpenRouter's 5% fee
    # and ``cost_details.upstream_inference_cost`` what the upstream provider bills the key.
    byok: bool = False
    usage_extra: dict | None = None  # merged into ``usage`` as is (hostile shapes in tests)


@dataclass
class _Canned:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class _ProviderState:
    behaviour: Behaviour = field(default_factory=Behaviour)
    queue: deque = field(default_factory=deque)
    served: int = 0  # chat requests answered 200 since the last reset
    used_today: int = 0  # chat requests counted against the daily cap
    requests: list = field(default_factory=list)  # (path, model, key_ok)
    served_by_model: dict = field(default_factory=dict)  # model -> chat requests answered 200
    # One entry per stream: {"model", "chunks" (content chunks sent), "end" (done, error,
    # cut, malformed, client_closed), "ended_at" (time.monotonic())}.
    streams: list = field(default_factory=list)
    last_payload: Any = None  # the last chat request's JSON body
    extra_keys: set = field(default_factory=set)


def derive_good_key(provider: str, seed: str = "demo") -> str:
    digest = hashlib.sha256(f"llm-stub:{seed}:{provider}".encode()).hexdigest()
    if provider == "groq":
        return "gsk_" + (digest + digest)[:52]
    if provider == "openrouter":
        return "sk-or-v1-" + digest
    return f"{provider}-stub-{digest[:32]}"


def _next_utc_midnight_ms() -> int:
    today = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    return int(dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC).timestamp() * 1000)


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # hundreds of concurrent streams in the benchmarks

    def handle_error(self, request, client_address):
        # A client that gave up (a timeout test) is expected, not worth a traceback.
        pass


class StubProvider:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: str = "demo"):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the stub provider only listens on loopback")
        self.seed = seed
        self._lock = threading.Lock()
        self._providers: dict[str, _ProviderState] = {}
        self._server = _QuietServer((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, provider: str) -> str:
        return f"{self.url}/{provider}/v1"

    def start(self) -> StubProvider:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="stub-provider", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- scripting -------------------------------------------------------------------------
    def good_key(self, provider: str) -> str:
        return derive_good_key(provider, self.seed)

    def accept_key(self, provider: str, key: str) -> None:
        self._state(provider).extra_keys.add(key)

    def configure(self, provider: str, **changes: Any) -> Behaviour:
        with self._lock:
            state = self._state(provider)
            state.behaviour = dataclasses.replace(state.behaviour, **changes)
            return state.behaviour

    def enqueue(self, provider: str, status: int, headers: dict | None = None, body: Any = None):
        """Answer the next chat request with exactly this (then go back to the behaviour)."""
        with self._lock:
            self._state(provider).queue.append(_Canned(status, dict(headers or {}), body))

    def reset(self) -> None:
        with self._lock:
            self._providers.clear()

    def chat_requests(self, provider: str, model: str | None = None) -> int:
        """Chat requests received (of ``model`` only, when given)."""
        return sum(
            1
            for r in self._state(provider).requests
            if r[0].endswith("/chat/completions") and (model is None or r[1] == model)
        )

    def last_payload(self, provider: str) -> Any:
        return self._state(provider).last_payload

    def streams(self, provider: str) -> list[dict]:
        """How each stream of ``provider`` ended (see _ProviderState.streams)."""
        return list(self._state(provider).streams)

    def served(self, provider: str, model: str) -> int:
        """Chat requests of ``model`` answered with a completion (HTTP 200)."""
        return self._state(provider).served_by_model.get(model, 0)

    def stats(self) -> dict[str, Any]:
        return {
            name: {"requests": len(s.requests), "served": s.served, "used_today": s.used_today}
            for name, s in self._providers.items()
        }

    def _state(self, provider: str) -> _ProviderState:
        found = self._providers.get(provider)
        if found is None:
            found = self._providers.setdefault(provider, _ProviderState())
        return found

    # --- answering -------------------------------------------------------------------------
    def key_ok(self, provider: str, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        key = authorization[len("Bearer ") :]
        return key == self.good_key(provider) or key in self._state(provider).extra_keys

    def ratelimit_headers(self, provider: str, state: _ProviderState, exhausted=False) -> dict:
        b = state.behaviour
        if provider == "groq":
            limit = b.daily_cap or b.daily_limit_header
            return {
                "x-ratelimit-limit-requests": str(limit),
                "x-ratelimit-remaining-requests": str(max(limit - state.used_today, 0)),
                "x-ratelimit-reset-requests": b.daily_reset,
                "x-ratelimit-limit-tokens": "6000",
                "x-ratelimit-remaining-tokens": "5900",
                "x-ratelimit-reset-tokens": "7.66s",
            }
        if provider == "openrouter" and exhausted:
            if b.daily_cap is not None and state.used_today >= b.daily_cap:
                limit, reset = b.daily_cap, _next_utc_midnight_ms()
            else:
                limit = b.rate_limit_after or 20
                reset = int((time.time() + float(b.retry_after or 60)) * 1000)
            return {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
            }
        return {}

    def chat(self, provider: str, payload: Any) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            state = self._state(provider)
            state.last_payload = payload
            b = state.behaviour
            if state.queue:
                canned = state.queue.popleft()
                return canned.status, canned.headers, canned.body
            if not isinstance(payload, dict) or not payload.get("model"):
                return 400, {}, {"error": {"message": "the body must be JSON with a model"}}
            if b.status is not None:
                message = {"error": {"message": f"stub answers {b.status}", "code": b.status}}
                return b.status, {}, message
            if b.daily_cap is not None and state.used_today >= b.daily_cap:
                headers = self.ratelimit_headers(provider, state, exhausted=True)
                headers["retry-after"] = str(3600)
                if provider == "groq":
                    headers["x-ratelimit-remaining-requests"] = "0"
                return 429, headers, {"error": {"message": "daily request limit reached"}}
            if b.rate_limit_after is not None and state.served >= b.rate_limit_after:
                headers = self.ratelimit_headers(provider, state, exhausted=True)
                if b.retry_after is not None:
                    headers["retry-after"] = b.retry_after
                return 429, headers, {"error": {"message": "rate limit reached"}}
            state.served += 1
            state.used_today += 1
            headers = self.ratelimit_headers(provider, state)
            late = b.slow_every > 0 and state.served % b.slow_every == 0
        if late:
            time.sleep(b.slow_delay)
        if b.error_in_200:
            return 200, headers, {"error": {"message": "upstream failed mid-generation"}}
        if b.malformed:
            return 200, headers, "this is not json {"
        messages = payload.get("messages") if isinstance(payload, dict) else None
        prompt = " ".join(
            str(m.get("content", "")) for m in messages or [] if isinstance(m, dict)
        )
        model = payload.get("model", "unknown") if isinstance(payload, dict) else "unknown"
        usage = _usage(provider, model, _tokens(prompt), _tokens(b.content), b)
        tools = payload.get("tools") if isinstance(payload, dict) else None
        tool_name = _first_tool_name(tools)
        if payload.get("stream"):
            from llm_routing.stub import streaming

            options = payload.get("stream_options")
            plan = streaming.build(
                provider=provider, model=model, content=b.content, usage=usage,
                include_usage=b.stream_usage and isinstance(options, dict)
                and options.get("include_usage") is True,
                behaviour=b, tool_name=tool_name, answer_id=f"chatcmpl-stub-{state.served}",
            )
            plan.log = state.streams
            with self._lock:
                state.served_by_model[model] = state.served_by_model.get(model, 0) + 1
            return 200, headers, plan
        message: dict[str, Any] = {"role": "assistant", "content": b.content}
        if tool_name:
            message = {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_stub_1", "type": "function",
                "function": {"name": tool_name, "arguments": _tool_arguments()},
            }]}
        body = {
            "id": f"chatcmpl-stub-{state.served}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if tool_name else "stop",
                }
            ],
            "usage": usage,
        }
        with self._lock:
            by_model = state.served_by_model
            by_model[model] = by_model.get(model, 0) + 1
        return 200, headers, body

    def key_info(self) -> dict[str, Any]:
        return {
            "data": {
                "label": "stub key",
                "limit": 10.0,
                "limit_reset": None,
                "limit_remaining": 7.5,
                "usage": 2.5,
                "usage_daily": 0.5,
                "usage_weekly": 1.0,
                "usage_monthly": 2.5,
                "is_free_tier": False,
            }
        }


def _usage(provider: str, model: str, p_tokens: int, c_tokens: int, b: Behaviour) -> dict:
    """The ``usage`` object of an answer, as the provider would send it."""
    c_tokens += b.reasoning_tokens or 0
    usage: dict[str, Any] = {
        "prompt_tokens": p_tokens,
        "completion_tokens": c_tokens,
        "total_tokens": p_tokens + c_tokens,
    }
    if b.cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": b.cached_tokens, "audio_tokens": 0}
    if b.reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": b.reasoning_tokens}
    if provider == "openrouter":
        from llm_routing.stub import catalogue  # late: keeps the pytest plugin import light

        price_in, price_out = catalogue.price_per_token(provider, model)
        upstream = round(p_tokens * price_in + c_tokens * price_out, 10)
        usage["cost"] = round(upstream * 0.05, 10) if b.byok else upstream
        usage["is_byok"] = b.byok
        usage["cost_details"] = {"upstream_inference_cost": upstream}
    usage.update(b.usage_extra or {})
    return usage


def _first_tool_name(tools: Any) -> str | None:
    """The stub answers a request that offers tools by calling the first one."""
    if not isinstance(tools, list) or not tools or not isinstance(tools[0], dict):
        return None
    function = tools[0].get("function")
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) and name else None


def _tool_arguments() -> str:
    from llm_routing.stub.streaming import STUB_TOOL_ARGUMENTS

    return STUB_TOOL_ARGUMENTS


def _handler_for(stub: StubProvider) -> type[BaseHTTPRequestHandler]:
    from llm_routing.stub.handler import StubHandler

    return type("BoundStubHandler", (StubHandler,), {"stub": stub})
