"""OpenAI's wire format, in and out: request validation, ``chat.completion`` objects,
``chat.completion.chunk`` SSE events, the model list and the error shape.

Pure functions over plain data (no I/O, no database). Errors are ``WireError``: an HTTP
status and OpenAI's ``{"error": {"message", "type", "param", "code"}}``, with the status
codes the SDKs map to their exception classes (400 BadRequestError, 401
AuthenticationError, 404 NotFoundError, 429 RateLimitError, 5xx InternalServerError).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from llm_routing import catalogue, providers
from llm_routing.sse import Chunk

ROLES = frozenset({"system", "user", "assistant", "tool", "developer", "function"})
# Routing decides these: a body naming them would fight the tenant's own setup.
RESERVED = frozenset({"tenant", "provider", "messages", "model", "stream", "stream_options"})
AUTO = "auto"


class WireError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        type: str | None = None,  # noqa: A002 - OpenAI's field name
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type = type or _default_type(status)
        self.param = param
        self.headers = dict(headers or {})

    def payload(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


def _default_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


# --- requests -----------------------------------------------------------------------------


@dataclass
class ChatRequest:
    messages: list[dict[str, Any]]
    model: str | None  # as the client wrote it ("auto" when absent)
    stream: bool
    include_usage: bool
    max_tokens: int | None
    temperature: float | None
    params: dict[str, Any] = field(default_factory=dict)  # passed through to the provider


def parse_json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise WireError(400, "The body is empty; send a JSON object.", code="invalid_json")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise WireError(400, "The body is not valid UTF-8.", code="invalid_json") from None
    except (ValueError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        message = f"The body is not valid JSON: {detail}."
        raise WireError(400, message, code="invalid_json") from None
    if not isinstance(data, dict):
        raise WireError(400, "The body must be a JSON object.", code="invalid_json")
    return data


def _number(data: dict, name: str, *, low: float, high: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise WireError(400, f"{name} must be a number from {low:g} to {high:g}.", param=name)
    return value


def chat_request(data: dict[str, Any]) -> ChatRequest:
    """The validated request, or WireError 400 naming the field."""
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise WireError(400, "messages must be a non-empty array of message objects.",
                        param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise WireError(400, f"messages[{index}] must be an object with a valid role.",
                            param=f"messages[{index}]")
        content = message.get("content")
        if not (content is None or isinstance(content, str | list)):
            raise WireError(400, f"messages[{index}].content must be a string or an array.",
                            param=f"messages[{index}].content")
    model = data.get("model", AUTO)
    if model is None:
        model = AUTO
    if not isinstance(model, str) or not model or len(model) > 300:
        raise WireError(400, "model must be a model name, or 'auto'.", param="model")
    stream = data.get("stream", False)
    if not isinstance(stream, bool):
        raise WireError(400, "stream must be true or false.", param="stream")
    options = data.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise WireError(400, "stream_options must be an object.", param="stream_options")
    include_usage = bool(options and options.get("include_usage") is True)
    if data.get("n") not in (None, 1):
        raise WireError(400, "Only n=1 is supported.", param="n")
    for name in ("tenant", "provider"):
        if name in data:
            raise WireError(400, f"{name!r} cannot be set: the API key decides the tenant and "
                            "the model field the provider.", param=name)
    max_tokens = data.get("max_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
        or not 1 <= max_tokens <= 10_000_000
    ):
        raise WireError(400, "max_tokens must be a positive whole number.", param="max_tokens")
    temperature = _number(data, "temperature", low=0, high=2)
    _number(data, "top_p", low=0, high=1)
    params = {k: v for k, v in data.items()
              if k not in RESERVED and k not in ("max_tokens", "temperature")}
    return ChatRequest(messages, model, stream, include_usage, max_tokens, temperature, params)


def resolve_model(
    name: str, *, configured: frozenset[str], config
) -> tuple[str | None, str | None]:
    """(provider, model) for the request's ``model``: (None, None) routes with the tenant's
    own choice; ``provider/model`` pins both; a bare name picks the provider that serves
    it (the tenant's chosen model first, then the model catalogue). WireError 404 otherwise."""
    if name == AUTO:
        return None, None
    head, _, rest = name.partition("/")
    if rest and providers.is_known(head):
        if head not in configured:
            raise WireError(404, f"The model {name!r} does not exist or you do not have access "
                            f"to it: no key is stored for {head}.", code="model_not_found",
                            param="model")
        return head, rest
    order = [p for p in config.candidate_order() if p in configured]
    order = list(dict.fromkeys([config.preferred_provider, *order]))
    for provider in (p for p in order if p in configured):
        if config.model_for(provider) == name:
            return provider, name
    for provider in (p for p in order if p in configured):
        if catalogue.lookup(provider, name):
            return provider, name
    raise WireError(404, f"The model {name!r} does not exist or you do not have access to it.",
                    code="model_not_found", param="model")


# --- answers ----------------------------------------------------------------------------------


def completion_id(request_id) -> str:
    return f"chatcmpl-{request_id.hex}"


def completion_object(result, created: int | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": result.content}
    if result.tool_calls:
        message["tool_calls"] = [dict(call) for call in result.tool_calls]
        message["content"] = result.content or None
    return {
        "id": completion_id(result.request_id),
        "object": "chat.completion",
        "created": created or int(time.time()),
        "model": result.model,
        "choices": [{"index": 0, "message": message,
                     "finish_reason": result.finish_reason or "stop"}],
        "usage": usage_object(result),
    }


def usage_object(result) -> dict[str, Any]:
    """OpenAI's ``usage``; the token-class details in OpenAI's shape when the provider
    reported any (the SDKs read them as ``prompt_tokens_details`` and
    ``completion_tokens_details``)."""
    usage = result.usage
    found: dict[str, Any] = {"prompt_tokens": usage.prompt_tokens,
                             "completion_tokens": usage.completion_tokens,
                             "total_tokens": usage.total_tokens}
    if usage.cached_tokens:
        found["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
    if usage.reasoning_tokens:
        found["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return found


def sse(data: dict[str, Any] | str) -> bytes:
    body = data.encode() if isinstance(data, str) else dumps(data)
    return b"data: " + body + b"\n\n"


DONE = sse("[DONE]")


class ChunkWriter:
    """The ``chat.completion.chunk`` events of one answer, as OpenAI sends them."""

    def __init__(self, request_id, model: str):
        self.base = {"id": completion_id(request_id), "object": "chat.completion.chunk",
                     "created": int(time.time()), "model": model}

    def _event(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse({**self.base, "choices": [{"index": 0, "delta": delta,
                                              "finish_reason": finish}]})

    def role(self) -> bytes:
        return self._event({"role": "assistant", "content": ""})

    def chunk(self, chunk: Chunk) -> bytes:
        delta: dict[str, Any] = {}
        if chunk.text:
            delta["content"] = chunk.text
        if chunk.tool_calls:
            delta["tool_calls"] = [_tool_delta(t) for t in chunk.tool_calls]
        return self._event(delta, chunk.finish_reason)

    def usage(self, result) -> bytes:
        return sse({**self.base, "choices": [], "usage": usage_object(result)})


def _tool_delta(delta) -> dict[str, Any]:
    out: dict[str, Any] = {"index": delta.index}
    if delta.id:
        out["id"] = delta.id
        out["type"] = "function"
    function: dict[str, Any] = {}
    if delta.name:
        function["name"] = delta.name
    function["arguments"] = delta.arguments
    out["function"] = function
    return out


def error_event(message: str, *, code: str = "stream_failed") -> bytes:
    """A failure after the stream started: OpenAI's error object as one event (the SDKs
    raise it), then the stream ends without [DONE]."""
    return sse({"error": {"message": message, "type": "server_error", "param": None,
                          "code": code}})


# --- the model list -----------------------------------------------------------------------------


def models_list(*, configured: frozenset[str], config) -> dict[str, Any]:
    """What the tenant can ask for: ``auto`` first, then ``provider/model`` for each
    provider with a key (the tenant's chosen model first, then the catalogue's)."""
    data = [{"id": AUTO, "object": "model", "created": 0, "owned_by": "llm-tenants"}]
    order = list(dict.fromkeys([config.preferred_provider, *config.candidate_order()]))
    for provider in (p for p in order if p in configured):
        chosen = config.model_for(provider) or providers.get_provider(provider).default_model
        names = [chosen] + [e["id"] for e in catalogue.entries(provider) if e["id"] != chosen]
        data += [{"id": f"{provider}/{name}", "object": "model", "created": 0,
                  "owned_by": provider} for name in names]
    return {"object": "list", "data": data}
