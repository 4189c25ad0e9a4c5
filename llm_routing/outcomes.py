"""Every provider answer is classified here, once, into a ``Completion`` or a
``ProviderError`` whose ``retryable`` flag drives failover.

Outcome names are the usage ledger's status values, defined once in ``usage.statuses``:
success, rate_limited, timeout, error (other transient), auth_error (401/403),
invalid_request (other 4xx: the request itself is wrong, so no other provider would take
it either) and cancelled (the caller left a stream before its end).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.views.decorators.debug import sensitive_variables

from llm_routing.http_client import HttpReply, TransportFailure, scrub
from usage.statuses import AUTH_ERROR as AUTH_ERROR  # re-exported: routing's outcome names
from usage.statuses import BUDGET_EXCEEDED as BUDGET_EXCEEDED
from usage.statuses import CANCELLED as CANCELLED
from usage.statuses import ERROR as ERROR
from usage.statuses import INVALID_REQUEST as INVALID_REQUEST
from usage.statuses import RATE_LIMITED as RATE_LIMITED
from usage.statuses import SUCCESS as SUCCESS
from usage.statuses import TIMEOUT as TIMEOUT

# Failures of the provider rather than of the request or the key: the circuit breaker
# counts these (llm_routing/ratelimits.py breaker_cooldown).
TRANSIENT = frozenset({TIMEOUT, ERROR})


@dataclass(frozen=True)
class Completion:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    provider_cost: Decimal | None
    finish_reason: str | None = None
    tool_calls: tuple[dict[str, Any], ...] = ()
    # The provider sent no token figures (a stream without its usage chunk): the counts
    # are estimates from the text (about 4 characters a token), never a silent 0.
    tokens_estimated: bool = False
    # Of prompt_tokens, read from the provider's cache; of completion_tokens, reasoning.
    cached_tokens: int = 0
    reasoning_tokens: int = 0


class ProviderError(Exception):
    """One failed attempt, typed. ``reason`` is for people and never contains key material."""

    def __init__(
        self,
        *,
        outcome: str,
        error_type: str,
        reason: str,
        retryable: bool,
        status_code: int | None = None,
        partial: Completion | None = None,
    ):
        super().__init__(reason)
        self.outcome = outcome
        self.error_type = error_type
        self.reason = reason
        self.retryable = retryable
        self.status_code = status_code
        self.partial = partial  # what a committed stream delivered before it failed


def count_or_none(value: Any) -> int | None:
    """A token count a provider sent, or None when it sent none that makes sense."""
    return value if type(value) is int and 0 <= value < 10**9 else None


def provider_cost(value: Any) -> Decimal | None:
    """A cost figure in USD a provider sent (OpenRouter's ``usage.cost``), if usable."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        cost = Decimal(str(value))
    except InvalidOperation:
        return None
    return cost if cost.is_finite() and 0 <= cost < 10**6 else None


def tenant_cost(usage: dict[str, Any]) -> Decimal | None:
    """What the attempt cost the tenant, as the provider reports it; None: not reported
    (the price table decides, usage/pricing.py).

    OpenRouter's ``usage.cost`` is what it charged the account. For a bring-your-own-key
    request (``is_byok: true``) that is only OpenRouter's fee: the upstream provider bills
    the tenant's own key ``cost_details.upstream_inference_cost`` beside it, so the
    tenant's cost is the sum, and without a usable upstream figure the report is
    incomplete and not used. Otherwise the upstream figure (OpenRouter fills it on every
    request) is part of ``cost`` and is not added.
    """
    cost = provider_cost(usage.get("cost"))
    if cost is None or usage.get("is_byok") is not True:
        return cost
    details = usage.get("cost_details")
    upstream = provider_cost(details.get("upstream_inference_cost")) if isinstance(
        details, dict
    ) else None
    return None if upstream is None else cost + upstream


@dataclass(frozen=True, slots=True)
class UsageFigures:
    """A provider's ``usage`` object, every figure checked: None where it sent none that
    makes sense (a missing figure is unknown, never 0). ``cached_tokens`` and
    ``reasoning_tokens`` come from ``prompt_tokens_details`` and
    ``completion_tokens_details``: parts of prompt_tokens and completion_tokens (never
    more than them), 0 when not reported."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal | None = None


def _detail(usage: dict[str, Any], group: str, name: str, whole: int | None) -> int:
    details = usage.get(group)
    value = count_or_none(details.get(name)) if isinstance(details, dict) else None
    if value is None:
        return 0
    return value if whole is None else min(value, whole)


def read_usage(usage: Any) -> UsageFigures | None:
    """The figures of a ``usage`` object (a completion's, a stream's last chunk, Groq's
    ``x_groq.usage``); None when it is no object. Never raises, whatever its shape."""
    if not isinstance(usage, dict):
        return None
    prompt = count_or_none(usage.get("prompt_tokens"))
    completion = count_or_none(usage.get("completion_tokens"))
    return UsageFigures(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=count_or_none(usage.get("total_tokens")),
        cached_tokens=_detail(usage, "prompt_tokens_details", "cached_tokens", prompt),
        reasoning_tokens=_detail(
            usage, "completion_tokens_details", "reasoning_tokens", completion
        ),
        cost=tenant_cost(usage),
    )


@sensitive_variables("secret")
def _error_message(data: Any, secret: str | None) -> str:
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str):
        return ""
    # Scrub first: collapsing whitespace first would hide a key that has some inside.
    return " ".join(scrub(message, secret).split())[:200]


def _decode(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return None


def classify_failure(failure: TransportFailure) -> ProviderError:
    outcome = TIMEOUT if failure.kind == "timeout" else ERROR
    return ProviderError(
        outcome=outcome, error_type=failure.kind, reason=failure.message, retryable=True
    )


CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
_CONTEXT_WORDS = re.compile(
    r"context.length|context.window|maximum context|too many tokens|prompt is too long", re.I
)


def _is_context_length(data: Any, said: str) -> bool:
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code == CONTEXT_LENGTH_EXCEEDED or bool(_CONTEXT_WORDS.search(said))


@sensitive_variables("secret")
def _http_error(reply: HttpReply, secret: str | None) -> ProviderError:
    status = reply.status_code
    data = _decode(reply.content)
    said = _error_message(data, secret)
    suffix = f": {said}" if said else ""
    if status in (400, 413) and _is_context_length(data, said):
        # The prompt does not fit this model: a model with a larger window may take it.
        return ProviderError(
            outcome=INVALID_REQUEST,
            error_type=CONTEXT_LENGTH_EXCEEDED,
            reason=f"HTTP {status}, the request is longer than the model's context{suffix}",
            retryable=False,
            status_code=status,
        )
    if status == 429:
        outcome, retryable, what = RATE_LIMITED, True, "rate limited"
    elif status in (401, 403):
        outcome, retryable, what = AUTH_ERROR, True, "the provider refused the key"
    elif status == 402:
        # OpenRouter's "no credit": the account, not the request, is the problem.
        outcome, retryable, what = ERROR, True, "no credit left on the account"
    elif 400 <= status < 500:
        outcome, retryable, what = INVALID_REQUEST, False, "the provider rejected the request"
    else:
        outcome, retryable, what = ERROR, True, "provider error"
    return ProviderError(
        outcome=outcome,
        error_type=f"http_{status}",
        reason=f"HTTP {status}, {what}{suffix}",
        retryable=retryable,
        status_code=status,
    )


def _bad_200(status: int, error_type: str, what: str) -> ProviderError:
    """A 2xx that is not a completion: transient, another provider may do better."""
    return ProviderError(
        outcome=ERROR,
        error_type=error_type,
        reason=f"HTTP {status} {what}",
        retryable=True,
        status_code=status,
    )


@sensitive_variables("secret")
def classify_reply(reply: HttpReply, *, requested_model: str, secret: str | None) -> Completion:
    """The completion in a provider's answer, or ProviderError saying what went wrong."""
    status = reply.status_code
    if not 200 <= status < 300:
        raise _http_error(reply, secret)
    data = _decode(reply.content)
    if not isinstance(data, dict):
        raise _bad_200(status, "malformed_body", "with a body that is not a JSON object")
    if data.get("error"):
        said = _error_message(data, secret) or "no message"
        raise _bad_200(status, "error_in_200", f"carrying an error: {said}")
    choices = data.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(message, dict) or not isinstance(content, str | None):
        raise _bad_200(status, "malformed_body", "without choices[0].message")
    usage = read_usage(data.get("usage")) or UsageFigures()
    prompt, completion = usage.prompt_tokens or 0, usage.completion_tokens or 0
    model = data.get("model")
    finish = first.get("finish_reason")
    return Completion(
        content=content or "",
        model=model if isinstance(model, str) and 0 < len(model) <= 200 else requested_model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=usage.total_tokens or prompt + completion,
        provider_cost=usage.cost,
        finish_reason=finish if isinstance(finish, str) and len(finish) <= 40 else None,
        tool_calls=_tool_calls(message.get("tool_calls")),
        cached_tokens=usage.cached_tokens,
        reasoning_tokens=usage.reasoning_tokens,
    )


def _tool_calls(raw: Any) -> tuple[dict[str, Any], ...]:
    """A message's tool calls in OpenAI's shape, the malformed ones left out."""
    calls = []
    for item in raw if isinstance(raw, list) else ():
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            continue
        arguments = function.get("arguments")
        calls.append({
            "id": item["id"] if isinstance(item.get("id"), str) else None,
            "type": "function",
            "function": {
                "name": function["name"],
                "arguments": arguments if isinstance(arguments, str) else "",
            },
        })
    return tuple(calls)


# --- streams ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamBroken:
    """A streamed answer (HTTP 2xx) that failed before its first content: ``kind`` is
    error (an error event), malformed, cut, timeout or transport."""

    status_code: int
    headers: dict[str, str]
    kind: str
    message: str


@dataclass(frozen=True)
class StreamEnded:
    """A committed stream (content reached the caller), however it ended: ``how`` is
    complete, error, malformed, cut, timeout, transport or cancelled."""

    headers: dict[str, str]
    how: str
    message: str
    text: str
    tool_calls: tuple[dict[str, Any], ...]
    finish_reason: str | None
    model: str | None
    usage: UsageFigures | None  # the usage chunk's figures; None: the stream sent none
    prompt_chars: int  # the request's text, for an estimate when no figures came


def estimate_tokens(chars: int) -> int:
    """About four characters a token: only where the provider sent no figures."""
    return max(1, -(-chars // 4)) if chars else 0


def _said(message: str, secret: str | None) -> str:
    # What a provider wrote (an error event's message) may quote the key: scrub first.
    return " ".join(scrub(message, secret).split())[:300]


@sensitive_variables("secret")
def classify_stream_broken(broken: StreamBroken, *, secret: str | None) -> ProviderError:
    said = _said(broken.message, secret)
    return ProviderError(
        outcome=TIMEOUT if broken.kind == "timeout" else ERROR,
        error_type=f"stream_{broken.kind}",
        reason=f"HTTP {broken.status_code} stream failed before any content: {said}",
        retryable=True,
        status_code=broken.status_code,
    )


@sensitive_variables("secret")
def classify_stream_end(
    ended: StreamEnded, *, requested_model: str, secret: str | None
) -> Completion:
    """The completion a stream delivered, or ProviderError (not retryable: content has
    reached the caller) carrying it as ``partial``."""
    usage = ended.usage or UsageFigures()
    estimated = usage.completion_tokens is None or usage.prompt_tokens is None
    completion_tokens = usage.completion_tokens
    if completion_tokens is None:
        produced = len(ended.text) + sum(len(json.dumps(t)) for t in ended.tool_calls)
        completion_tokens = estimate_tokens(produced)
    prompt_tokens = usage.prompt_tokens
    if prompt_tokens is None:
        prompt_tokens = estimate_tokens(ended.prompt_chars)
    model = ended.model if ended.model and len(ended.model) <= 200 else requested_model
    completion = Completion(
        content=ended.text,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
        provider_cost=usage.cost,
        finish_reason=ended.finish_reason,
        tool_calls=ended.tool_calls,
        tokens_estimated=estimated,
        cached_tokens=min(usage.cached_tokens, prompt_tokens),
        reasoning_tokens=min(usage.reasoning_tokens, completion_tokens),
    )
    if ended.how == "complete":
        return completion
    outcome = {"timeout": TIMEOUT, "cancelled": CANCELLED}.get(ended.how, ERROR)
    if ended.how == "cancelled":
        what = "the caller left the stream"
    else:
        what = _said(ended.message, secret)
    raise ProviderError(
        outcome=outcome,
        error_type=f"stream_{ended.how}",
        reason=f"the stream broke after content had started: {what}",
        retryable=False,
        status_code=200,
        partial=completion,
    )
