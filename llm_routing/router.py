"""``complete`` / ``acomplete``: send a chat request for a tenant, failing over between its
providers, and record every attempt in the usage ledger.

The routing logic is written once, as a generator (``_route``) that yields each HTTP call
it wants made and receives the reply; ``complete`` drives it with the sync client and
``acomplete`` with the async one (running the generator's database steps through
``sync_to_async``). Nothing here reads a status code to decide on failover: the typed
``ProviderError.retryable`` flag does.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, connections

import usage
from config import metrics
from llm_routing import (
    catalogue,
    clock,
    fallback,
    http_client,
    outcomes,
    providers,
    ratelimits,
    state,
)
from llm_routing.dbguard import StateUnavailable, call, recover
from llm_routing.routing_view import RoutingView, cached_view, routing_view
from llm_routing.tracing import traced
from tenants import services
from tenants.crypto import TokenDecryptionError
from tenants.models import Tenant
from usage import budgets
from usage.money import format_usd
from usage.pricing import cost_pico, price_book, provider_cost_to_pico, worst_case_pico

logger = logging.getLogger(__name__)
T = TypeVar("T")

# The budgets' database work runs bounded and self-healing, like routing's own.
budgets.runner = call

AUTH_COOLDOWN_SECONDS = 60


@dataclass(frozen=True)
class Attempt:
    provider: str
    model: str
    outcome: str
    reason: str
    status_code: int | None
    latency_ms: int


@dataclass(frozen=True)
class Skipped:
    """A candidate routing passed by without calling it, and why."""

    provider: str
    reason: str


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache
    reasoning_tokens: int = 0  # of completion_tokens, spent on reasoning


@dataclass(frozen=True)
class RoutingResult:
    content: str
    provider: str
    model: str
    usage: TokenUsage
    cost: Decimal | None
    cost_source: str
    latency_ms: int
    request_id: uuid.UUID
    attempts: tuple[Attempt, ...]
    skipped: tuple[Skipped, ...] = ()
    finish_reason: str | None = None
    tool_calls: tuple[dict[str, Any], ...] = ()
    ttft_ms: int | None = None  # streams: time from the request to the first content
    tokens_estimated: bool = False  # no figures from the provider: usage is an estimate


class RoutingError(Exception):
    """No provider answered: every candidate failed or was skipped, or none is configured.

    ``reason`` is for people; ``attempts`` and ``skipped`` say what happened to each
    provider; ``headline`` is the reason without that per-provider detail (for a caller
    that shows the attempts itself). Never contains key material.
    """

    def __init__(
        self,
        reason: str,
        *,
        attempts: tuple[Attempt, ...] = (),
        skipped: tuple[Skipped, ...] = (),
        request_id: uuid.UUID | None = None,
        headline: str | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.headline = headline or reason
        self.attempts = tuple(attempts)
        self.skipped = tuple(skipped)
        self.request_id = request_id


class StreamError(RoutingError):
    """A stream failed after its content had started (so no other provider could take
    over without the caller seeing two answers). ``received``: the text delivered before
    the failure; ``attempts`` and ``reason`` as for RoutingError."""

    def __init__(self, reason: str, *, received: str, **kwargs: Any):
        super().__init__(reason, **kwargs)
        self.received = received


class BudgetExceeded(RoutingError):
    """A hard budget of the tenant is spent: the request was refused before its call.

    ``window``: "day" or "month"; ``limit``, ``spent``, ``reserved``: USD (Decimal) as the
    refusal saw them; ``resets_at``: when the window ends (an aware UTC datetime).
    """

    def __init__(
        self,
        reason: str,
        *,
        window: str,
        limit: Decimal,
        spent: Decimal,
        reserved: Decimal,
        resets_at: dt.datetime,
        **kwargs: Any,
    ):
        super().__init__(reason, **kwargs)
        self.window = window
        self.limit = limit
        self.spent = spent
        self.reserved = reserved
        self.resets_at = resets_at


@dataclass(frozen=True)
class _Call:
    url: str
    api_key: str
    body: dict[str, Any]
    stream: bool = False
    timeouts: tuple[float, float] = (0.0, 0.0)  # streams: (first token, gap)


@dataclass(frozen=True)
class StreamCommitted:
    """Sent by a stream driver once the first content arrived (ttft in ms)."""

    ttft_ms: int


@dataclass(frozen=True)
class _Wait:
    """Wait this long before the next call (a retry on the same provider)."""

    seconds: float


@dataclass(frozen=True)
class _Relay:
    """The router's answer to StreamCommitted: hand the stream to the caller, then send
    back the StreamEnded. Carries what the caller may want to know meanwhile."""

    provider: str
    model: str
    request_id: uuid.UUID
    attempts: tuple[Attempt, ...]


@dataclass(frozen=True)
class _Candidate:
    provider: providers.Provider
    model: str


def _check_arguments(messages: Any, params: dict[str, Any]) -> None:
    if not isinstance(messages, list | tuple) or not messages:
        raise ValueError("messages must be a non-empty list of {'role', 'content'} objects")
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise ValueError("every message must be an object with a 'role'")
    if "stream" in params or "stream_options" in params:
        raise ValueError("use llm_routing.stream() or astream() to stream")
    if "messages" in params:
        raise ValueError("pass messages as the messages argument")


def _candidates(
    view: RoutingView, provider: str | None, model: str | None, skipped: list[Skipped]
) -> list[_Candidate]:
    config = view.config
    if provider is not None and not providers.is_known(provider):
        raise RoutingError(
            f"Unknown provider {provider!r}; known: {', '.join(providers.provider_names())}."
        )
    first = provider or config.preferred_provider
    order = list(dict.fromkeys([first, *config.candidate_order()]))
    if not config.auto_failover:
        order = order[:1]
    chosen = []
    for name in order:
        if name not in view.configured:
            if name == first:
                skipped.append(Skipped(name, "no key stored"))
            continue
        spec = providers.get_provider(name)
        use = model if (model and name == first) else None
        chosen.append(_Candidate(spec, use or config.model_for(name) or spec.default_model))
    return chosen


def _allowance(view: RoutingView, provider: str) -> state.Allowance:
    quota = view.config.daily_quota(provider)
    return state.Allowance(quota.requests, quota.tokens, view.config.quota_threshold)


def _cooldown_for(
    error: outcomes.ProviderError, report: ratelimits.RateLimitReport, now: dt.datetime
) -> ratelimits.Cooldown | None:
    if error.outcome == outcomes.RATE_LIMITED:
        default = float(getattr(settings, "LLM_DEFAULT_COOLDOWN_SECONDS", 30))
        return ratelimits.cooldown_after_429(report, now, default)
    if error.outcome == outcomes.AUTH_ERROR:
        return ratelimits.Cooldown(
            now + dt.timedelta(seconds=AUTH_COOLDOWN_SECONDS), "minute", "key refused"
        )
    if report.retry_after_at is not None:  # e.g. OpenRouter's 503 with Retry-After
        return ratelimits.Cooldown(report.retry_after_at, "minute", "provider asked to wait")
    return None


def _cost(
    candidate: _Candidate, completion: outcomes.Completion, tenant_id: uuid.UUID
) -> tuple[Decimal | None, str]:
    if completion.provider_cost is not None:
        return completion.provider_cost, "provider"
    if completion.tokens_estimated:
        return None, "unknown"  # a price times an estimate is not a cost
    try:
        return call(
            "pricing an answer", usage.cost_for,
            provider=candidate.provider.name,
            model=candidate.model,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            at=clock.now(),
            tenant_id=tenant_id,
            cached_tokens=completion.cached_tokens,
            reasoning_tokens=completion.reasoning_tokens,
        )
    except StateUnavailable:
        # The price table is not loaded and the database is away: the caller still gets
        # the answer; the ledger row is priced from the same table when it is summarised.
        return None, "unknown"


def _context_length(candidate: _Candidate) -> int | None:
    from llm_routing import catalogue

    found = catalogue.lookup(candidate.provider.name, candidate.model)
    return found.get("context_length") if found else None


def _larger_context(candidates: list[_Candidate], index: int) -> int | None:
    """The next candidate after ``index`` whose model has a larger context window (from the
    model catalogue), or None."""
    exceeded = _context_length(candidates[index]) or 0
    for later in range(index + 1, len(candidates)):
        window = _context_length(candidates[later])
        if window is not None and window > exceeded:
            return later
    return None


def _retry_wait(error: outcomes.ProviderError, rest_until: dt.datetime | None) -> float | None:
    """How long to wait before trying the same provider once more, or None for no retry:
    a 429 whose rest is short (``LLM_RETRY_AFTER_MAX_SECONDS``), or a single 5xx or
    dropped connection (a short jittered back-off)."""
    if rest_until is not None:
        wait = (rest_until - clock.now()).total_seconds()
        return max(wait, 0.0) + 0.01 if wait <= settings.LLM_RETRY_AFTER_MAX_SECONDS else None
    if error.outcome == outcomes.ERROR and (
        error.error_type.startswith("http_5") or error.error_type in RETRYABLE_TRANSPORT
    ):
        return 0.1 + random.random() * 0.2
    return None


# A connection that dropped or was refused: worth one more try on the same provider.
RETRYABLE_TRANSPORT = frozenset({"connect_error", "transport_error", "stream_transport"})


def _failure_reason(attempts: list[Attempt], skipped: list[Skipped], stopped: str) -> str:
    parts = [f"{a.provider} ({a.model}): {a.reason}" for a in attempts]
    parts += [f"{s.provider}: skipped, {s.reason}" for s in skipped]
    return f"{stopped} " + "; ".join(parts) + "."


def _load_view(tenant: Any, request_id: uuid.UUID) -> RoutingView:
    """The tenant's routing view; while the database is away, the one this process has.

    Only the shared-state statements probe an outage (and end it): a view served from the
    cache touches no database, so it could not tell that the database is back.
    """
    view = cached_view(tenant) if fallback.down() else None
    if view is not None:
        return view
    try:
        return call("loading the tenant's routing view", routing_view, tenant)
    except Tenant.DoesNotExist:
        raise RoutingError(f"No tenant with id or slug {str(tenant)[:100]!r}.") from None
    except StateUnavailable as exc:
        fallback.mark_down(str(exc))
    view = cached_view(tenant)
    if view is None:
        raise RoutingError(
            "The routing database is unreachable and this process has not loaded tenant "
            f"{str(tenant)[:100]!r} before; try again when it is back.",
            request_id=request_id,
        )
    return view


@dataclass(frozen=True)
class _Settled:
    """One attempt after its answer: the completion or the error, and what was recorded."""

    attempt: Attempt
    completion: outcomes.Completion | None = None
    error: outcomes.ProviderError | None = None
    cost: Decimal | None = None
    cost_source: str = "unknown"
    rest_until: dt.datetime | None = None  # the provider rests (cooldown) until then


def _settle_attempt(
    view: RoutingView,
    candidate: _Candidate,
    allowance: state.Allowance,
    reservation: state.Reservation,
    reply: http_client.HttpReply | http_client.TransportFailure,
    *,
    request_id: uuid.UUID,
    number: int,
    latency_ms: int,
    api_key: str,
    ttft_ms: int | None = None,
) -> _Settled:
    """Classify one provider reply, put its usage row in the tracker, then update the
    shared state. The tracker comes first and the state writes after it are best-effort:
    once a provider has answered, neither its row nor its answer depends on the database."""
    name = candidate.provider.name
    completion, error, report = None, None, ratelimits.RateLimitReport()
    if isinstance(reply, http_client.TransportFailure):
        error = outcomes.classify_failure(reply)
    else:
        report = ratelimits.parse_headers(reply.headers)
        try:
            if isinstance(reply, outcomes.StreamBroken):
                raise outcomes.classify_stream_broken(reply, secret=api_key)
            if isinstance(reply, outcomes.StreamEnded):
                completion = outcomes.classify_stream_end(
                    reply, requested_model=candidate.model, secret=api_key
                )
            else:
                completion = outcomes.classify_reply(
                    reply, requested_model=candidate.model, secret=api_key
                )
        except outcomes.ProviderError as exc:
            error = exc
    if completion is not None:
        usage.track(
            tenant_id=view.tenant.pk,
            provider=name,
            model=candidate.model,
            status=outcomes.SUCCESS,
            request_id=request_id,
            attempt=number,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            latency_ms=latency_ms,
            provider_cost=completion.provider_cost,
            ttft_ms=ttft_ms,
            tokens_estimated=completion.tokens_estimated,
            cached_tokens=completion.cached_tokens,
            reasoning_tokens=completion.reasoning_tokens,
        )
        state.record(
            tenant_id=view.tenant.pk,
            provider=name,
            tokens=completion.total_tokens if allowance.tokens is not None else 0,
            report=report,
            reservation=reservation,
        )
        cost, cost_source = _cost(candidate, completion, view.tenant.pk)
        attempt = Attempt(name, candidate.model, outcomes.SUCCESS, "ok", 200, latency_ms)
        return _Settled(attempt, completion=completion, cost=cost, cost_source=cost_source)
    assert error is not None
    partial = error.partial
    usage.track(
        tenant_id=view.tenant.pk,
        provider=name,
        model=candidate.model,
        status=error.outcome,
        request_id=request_id,
        attempt=number,
        prompt_tokens=partial.prompt_tokens if partial else 0,
        completion_tokens=partial.completion_tokens if partial else 0,
        latency_ms=latency_ms,
        error_type=error.error_type,
        provider_cost=partial.provider_cost if partial else None,
        ttft_ms=ttft_ms,
        tokens_estimated=partial.tokens_estimated if partial else False,
        cached_tokens=partial.cached_tokens if partial else 0,
        reasoning_tokens=partial.reasoning_tokens if partial else 0,
    )
    now = clock.now()
    cooldown = _cooldown_for(error, report, now)
    tripped = state.record(
        tenant_id=view.tenant.pk,
        provider=name,
        report=report,
        cooldown=cooldown,
        rate_limited=error.outcome == outcomes.RATE_LIMITED,
        reservation=reservation,
        failed=error.outcome in outcomes.TRANSIENT,
    )
    if tripped is not None and (cooldown is None or tripped.until > cooldown.until):
        cooldown = tripped
    if error.outcome == outcomes.AUTH_ERROR:
        _mark_key_failing(view, name, error.reason)
    reason = error.reason
    if cooldown is not None:
        reason += f"; resting until {cooldown.until.isoformat(timespec='seconds')}"
    attempt = Attempt(name, candidate.model, error.outcome, reason, error.status_code, latency_ms)
    return _Settled(attempt, error=error, rest_until=cooldown.until if cooldown else None)


# --- budgets (usage/budgets.py keeps the books) -----------------------------------------------

_MAX_TOKENS = 2**31 - 1


def _prompt_bound(messages: list[dict[str, Any]], params: dict[str, Any]) -> int:
    """An upper bound of the prompt's tokens: a token is at least one byte of the request's
    JSON (messages and tool definitions)."""
    text = json.dumps([messages, params.get("tools")], ensure_ascii=False, default=str)
    return len(text.encode("utf-8", "replace"))


def _completion_bound(candidate: _Candidate, params: dict[str, Any]) -> int:
    """The most output tokens the call may bill: the request's ``max_completion_tokens`` or
    ``max_tokens``, else the model's maximum output (catalogue), else
    ``USAGE_BUDGET_DEFAULT_MAX_TOKENS``."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = params.get(name)
        if type(value) is int and value > 0:
            return min(value, _MAX_TOKENS)
    known = catalogue.max_output(candidate.provider.name, candidate.model)
    return known or int(settings.USAGE_BUDGET_DEFAULT_MAX_TOKENS)


def _unpriced_estimate() -> int:
    return int(Decimal(str(settings.USAGE_BUDGET_UNPRICED_ESTIMATE_USD)) * 10**12)


def _worst_case(
    candidate: _Candidate,
    prompt_bound: int,
    params: dict[str, Any],
    tenant_id: uuid.UUID | None = None,
) -> int:
    """What the call may cost at most, in pico-dollars, at ``tenant_id``'s price (its own
    where one is in force, else the list price; a model without a price: the configured
    estimate)."""
    pico = worst_case_pico(
        provider=candidate.provider.name,
        model=candidate.model,
        prompt_tokens=prompt_bound,
        completion_tokens=_completion_bound(candidate, params),
        at=clock.now(),
        tenant_id=tenant_id,
    )
    return _unpriced_estimate() if pico is None else pico


def _billed(
    candidate: _Candidate, settled: _Settled, tenant_id: uuid.UUID | None = None
) -> tuple[int, bool]:
    """(pico-dollars, estimated) an attempt counts against its budgets: the provider's own
    cost, else its tokens (estimates too: budgets err high) at the price in force, else
    the configured estimate for a model without a price; 0 for a call that billed nothing."""
    figures = settled.completion or (settled.error.partial if settled.error else None)
    if figures is None:
        return 0, False
    reported = provider_cost_to_pico(figures.provider_cost)
    if reported is not None:
        return reported, False
    if not figures.prompt_tokens and not figures.completion_tokens:
        return 0, False
    pico, _ = cost_pico(
        provider=candidate.provider.name,
        model=candidate.model,
        prompt_tokens=figures.prompt_tokens,
        completion_tokens=figures.completion_tokens,
        at=clock.now(),
        tenant_id=tenant_id,
        cached_tokens=figures.cached_tokens,
        reasoning_tokens=figures.reasoning_tokens,
    )
    if pico is None:
        return _unpriced_estimate(), True
    return pico, figures.tokens_estimated


def _priced(what: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` for a budget's pricing: straight from the in-memory price table when
    it is fresh, else through ``dbguard.call`` (the reload reads the database). The
    shortcut is for the router benchmark's budget contender (issue 12: < 0.1 ms)."""
    if price_book.fresh():
        return fn(*args)
    return call(what, fn, *args)


def _reserve_budget(
    view: RoutingView, candidate: _Candidate, prompt_bound: int, params: dict[str, Any]
) -> budgets.Ticket | budgets.Refusal | None:
    """Reserve the call's worst case in each of the tenant's budgets. None: the database
    (the budgets' books, or prices to reload) is unreachable and every budget is soft (a
    hard one then refuses: it cannot be checked)."""
    tenant_id = view.tenant.pk
    try:
        worst = _priced(
            "pricing a call's worst case", _worst_case, candidate, prompt_bound, params, tenant_id
        )
        ticket = budgets.reserve_local(tenant_id, view.budgets, worst, clock.now())
        if ticket is not None:
            return ticket
        return budgets.reserve(tenant_id, view.tenant.timezone, view.budgets, worst, clock.now())
    except StateUnavailable as exc:
        if any(rule.hard for rule in view.budgets):
            raise RoutingError(
                f"Tenant {view.tenant.slug!r} has a hard budget and its books cannot be read "
                f"({exc}); try again shortly."
            ) from None
        return None


def _settle_budget(
    ticket: budgets.Ticket | None, candidate: _Candidate, settled: _Settled, tenant_id: uuid.UUID
) -> None:
    if ticket is None:
        return
    try:
        actual, estimated = _priced("pricing a call for its budgets", _billed,
                                    candidate, settled, tenant_id)
    except StateUnavailable:
        # Prices cannot be reloaded: the call counts its whole worst case (the safe side).
        actual, estimated = ticket.worst, False
    if budgets.settle(ticket, actual, estimated=estimated):
        try:
            budgets.write_now(ticket)  # near a limit: the next admission must see this cost
        except StateUnavailable as exc:
            logger.warning("budget settlement deferred (%s)", exc)


def _refused(
    view: RoutingView,
    candidate: _Candidate,
    refusal: budgets.Refusal,
    *,
    request_id: uuid.UUID,
    attempts: list[Attempt],
    skipped: list[Skipped],
) -> BudgetExceeded:
    """The usage row of a refusal, and the error the caller gets."""
    name = candidate.provider.name
    usage.track(
        tenant_id=view.tenant.pk,
        provider=name,
        model=candidate.model,
        status=outcomes.BUDGET_EXCEEDED,
        request_id=request_id,
        attempt=len(attempts) + 1,
        error_type=f"budget_{refusal.period}",
    )
    limit = Decimal(refusal.limit_pusd) / 10**12
    spent = Decimal(refusal.spent_pusd) / 10**12
    reserved = Decimal(refusal.reserved_pusd) / 10**12
    window = "daily" if refusal.period == "day" else "monthly"
    resets = refusal.resets_at.isoformat(timespec="seconds")
    reason = (
        f"The tenant's {window} budget of {format_usd(limit)} is spent "
        f"({format_usd(spent)} spent, {format_usd(reserved)} reserved); "
        f"it resets at {resets}."
    )
    attempts.append(Attempt(name, candidate.model, outcomes.BUDGET_EXCEEDED, reason, None, 0))
    return BudgetExceeded(
        reason,
        window=refusal.period,
        limit=limit,
        spent=spent,
        reserved=reserved,
        resets_at=refusal.resets_at,
        attempts=tuple(attempts),
        skipped=tuple(skipped),
        request_id=request_id,
    )


def _mark_key_failing(view: RoutingView, provider: str, reason: str) -> None:
    try:
        call("marking a key as failing", services.tenant_mark_token_failing,
             tenant=view.tenant, provider=provider, reason=reason)
    except StateUnavailable as exc:
        logger.warning(
            "routing tenant=%s provider=%s: the key's failing mark was not saved (%s)",
            view.tenant.pk, provider, exc,
        )


@traced  # a span per request, one child per attempt, when OpenTelemetry is set up
def _route(
    tenant: Any,
    messages: list[dict[str, Any]],
    provider: str | None,
    model: str | None,
    params: dict[str, Any],
    stream: bool = False,
) -> Generator[_Call | _Wait | _Relay, Any, RoutingResult]:
    """The routing of one request, written once for every driver: it yields each provider
    call it wants made (``_Call``) and receives the reply (HttpReply, TransportFailure,
    or for streams StreamBroken / StreamCommitted); after StreamCommitted it yields a
    ``_Relay`` and receives the StreamEnded. Returns the result or raises RoutingError
    (StreamError once a stream's content had started)."""
    request_id = uuid.uuid4()
    started = time.perf_counter()
    away = 0.0  # seconds in provider calls and retry waits: the rest is the router's (metrics)
    view = _load_view(tenant, request_id)
    if not view.tenant.is_active:
        raise RoutingError(f"Tenant {view.tenant.slug!r} is inactive.", request_id=request_id)
    if not view.configured:
        raise RoutingError(
            f"No provider is configured for tenant {view.tenant.slug!r}: "
            "store a key for at least one provider.",
            request_id=request_id,
        )
    attempts: list[Attempt] = []
    skipped: list[Skipped] = []
    stopped = "Every provider failed:"
    candidates = _candidates(view, provider, model, skipped)
    index, retried = -1, False
    prompt_bound: int | None = None  # computed once, for budgets only
    while True:
        if not retried:
            index += 1
        if index >= len(candidates):
            break
        candidate = candidates[index]
        name = candidate.provider.name
        try:
            api_key = view.key_for(name)
        except TokenDecryptionError:
            skipped.append(Skipped(name, "the stored key cannot be decrypted"))
            retried = False
            continue
        if not api_key:
            retried = False
            continue
        ticket = None
        if view.budgets:
            if prompt_bound is None:
                prompt_bound = _prompt_bound(messages, params)
            held = _reserve_budget(view, candidate, prompt_bound, params)
            if isinstance(held, budgets.Refusal):
                metrics.routed(view.tenant, None, "budget_exceeded",
                               time.perf_counter() - started - away, attempts, skipped)
                raise _refused(view, candidate, held, request_id=request_id,
                               attempts=attempts, skipped=skipped)
            ticket = held
        try:
            allowance = _allowance(view, name)
            reservation = state.reserve(
                tenant_id=view.tenant.pk, provider=name, allowance=allowance
            )
            if isinstance(reservation, str):
                if ticket is not None:
                    budgets.release(ticket)
                skipped.append(Skipped(name, reservation))
                retried = False
                continue
            body = {**params, "model": candidate.model, "messages": messages}
            if stream:
                body["stream"] = True
                body["stream_options"] = {"include_usage": True}
            sent = time.perf_counter()
            url = candidate.provider.base_url + candidate.provider.chat_path
            reply = yield _Call(
                url, api_key, body, stream,
                candidate.provider.stream_timeouts() if stream else (0, 0),
            )
            ttft_ms = None
            if isinstance(reply, StreamCommitted):
                ttft_ms = reply.ttft_ms
                reply = yield _Relay(name, candidate.model, request_id, tuple(attempts))
            replied = time.perf_counter()
            away += replied - sent
            settled = _settle_attempt(
                view, candidate, allowance, reservation, reply,
                request_id=request_id,
                number=len(attempts) + 1,
                latency_ms=int((replied - sent) * 1000),
                api_key=api_key,
                ttft_ms=ttft_ms,
            )
        except BaseException:
            # The generator was closed (the caller left) or failed before the call settled:
            # its worst case goes back.
            if ticket is not None:
                budgets.release(ticket)
            raise
        _settle_budget(ticket, candidate, settled, view.tenant.pk)
        attempts.append(settled.attempt)
        metrics.attempt(name, settled, replied - sent, ttft_ms)
        completion = settled.completion
        if completion is not None:
            metrics.routed(view.tenant, name, "success", time.perf_counter() - started - away,
                           attempts, skipped)
            return RoutingResult(
                content=completion.content,
                provider=name,
                model=completion.model,
                usage=TokenUsage(
                    completion.prompt_tokens,
                    completion.completion_tokens,
                    completion.total_tokens,
                    completion.cached_tokens,
                    completion.reasoning_tokens,
                ),
                cost=settled.cost,
                cost_source=settled.cost_source,
                latency_ms=int((time.perf_counter() - started) * 1000),
                request_id=request_id,
                attempts=tuple(attempts),
                skipped=tuple(skipped),
                finish_reason=completion.finish_reason,
                tool_calls=completion.tool_calls,
                ttft_ms=ttft_ms,
                tokens_estimated=completion.tokens_estimated,
            )
        error = settled.error
        assert error is not None
        if error.partial is not None:  # a stream broke after its content started
            headline = (
                f"The stream from {name} ({candidate.model}) failed after its content had "
                "started"
            )
            metrics.routed(view.tenant, name, "stream_failed",
                           time.perf_counter() - started - away, attempts, skipped)
            raise StreamError(
                f"{headline}: {settled.attempt.reason}.",
                headline=f"{headline}.",
                received=error.partial.content,
                attempts=tuple(attempts),
                skipped=tuple(skipped),
                request_id=request_id,
            )
        logger.info(
            "routing tenant=%s provider=%s attempt=%s outcome=%s: %s",
            view.tenant.pk, name, len(attempts), error.outcome, settled.attempt.reason,
        )
        if error.error_type == outcomes.CONTEXT_LENGTH_EXCEEDED:
            larger = _larger_context(candidates, index)
            if larger is None:
                stopped = "The request is longer than every configured model's context:"
                break
            skipped += [
                Skipped(c.provider.name, "a context window no larger than the one exceeded")
                for c in candidates[index + 1 : larger]
            ]
            index, retried = larger - 1, False
            continue
        if not error.retryable:
            stopped = "The provider rejected the request, so no other provider was tried:"
            break
        last = index == len(candidates) - 1 or not view.config.auto_failover
        wait = None if retried or not last else _retry_wait(error, settled.rest_until)
        if wait is not None:
            retried = True  # once, on the same provider: a blip should not fail the call
            away += wait
            yield _Wait(wait)
            continue
        retried = False
        if not view.config.auto_failover:
            stopped = "Automatic failover is off:"
            break
    metrics.routed(view.tenant, None, "failed", time.perf_counter() - started - away,
                   attempts, skipped)
    raise RoutingError(
        _failure_reason(attempts, skipped, stopped),
        headline=stopped.removesuffix(":") + ".",
        attempts=tuple(attempts),
        skipped=tuple(skipped),
        request_id=request_id,
    )


@dataclass(frozen=True)
class _Done:
    result: RoutingResult


def _advance(route: Generator[Any, Any, Any], value: Any) -> _Call | _Wait | _Relay | _Done:
    # StopIteration must not cross sync_to_async (it cannot be raised into a Future).
    try:
        step: _Call | _Wait | _Relay = route.send(value)
        return step
    except StopIteration as stop:
        return _Done(stop.value)
    except (DatabaseError, InterfaceError) as exc:
        # Every database step of routing is guarded (dbguard, fallback); this is the last
        # line: callers are promised RoutingError, never a driver exception.
        failure = RoutingError(f"Routing failed on its database ({type(exc).__name__}).")
    recover(connections[DEFAULT_DB_ALIAS])
    raise failure


def _params(
    max_tokens: int | None, temperature: float | None, openai_params: dict[str, Any]
) -> dict[str, Any]:
    params = dict(openai_params)
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    if temperature is not None:
        params["temperature"] = temperature
    return params


def complete(
    *,
    tenant: Any,
    messages: list[dict[str, Any]],
    max_tokens: int | None = None,
    temperature: float | None = None,
    provider: str | None = None,
    model: str | None = None,
    **openai_params: Any,
) -> RoutingResult:
    """Send a chat completion for ``tenant`` (a Tenant, its id or its slug).

    ``provider``/``model`` override the tenant's choice for this call (the model applies
    to that provider only); other OpenAI parameters pass through. Raises RoutingError
    when no provider answers, ValueError for malformed arguments.
    """
    started = start_route(
        tenant=tenant, messages=messages, max_tokens=max_tokens, temperature=temperature,
        provider=provider, model=model, **openai_params,
    )
    return finish_route_sync(started)


def finish_route_sync(started: Started) -> RoutingResult:
    """Drive a started (non-streamed) route to its result in this thread."""
    route, step = started.route, started.step
    while not isinstance(step, _Done):
        reply: Any
        if isinstance(step, _Wait):
            clock.sleep(step.seconds)
            reply = None
        else:
            try:
                reply = http_client.request(
                    "POST", step.url, api_key=step.api_key, body=step.body
                )
            except http_client.TransportFailure as failure:
                reply = failure
        step = _advance(route, reply)
    return step.result


async def acomplete(
    *,
    tenant: Any,
    messages: list[dict[str, Any]],
    max_tokens: int | None = None,
    temperature: float | None = None,
    provider: str | None = None,
    model: str | None = None,
    **openai_params: Any,
) -> RoutingResult:
    """The async twin of ``complete``: the HTTP calls do not block the event loop."""
    started = await sync_to_async(start_route, thread_sensitive=True)(
        tenant=tenant, messages=messages, max_tokens=max_tokens, temperature=temperature,
        provider=provider, model=model, **openai_params,
    )
    return await finish_route(started)


@dataclass
class Started:
    """A routing generator advanced to its first step (``start_route``)."""

    route: Generator[Any, Any, Any]
    step: Any
    prompt_chars: int = 0


def start_route(
    *,
    tenant: Any,
    messages: list[dict[str, Any]],
    max_tokens: int | None = None,
    temperature: float | None = None,
    provider: str | None = None,
    model: str | None = None,
    streamed: bool = False,
    **openai_params: Any,
) -> Started:
    """Check the arguments and run routing up to its first provider call (database steps:
    call it where the database may be used). For async drivers that want that first step
    in a thread hop they already make (the OpenAI-compatible endpoint): one hop, not two."""
    started = prepare_route(
        tenant=tenant, messages=messages, max_tokens=max_tokens, temperature=temperature,
        provider=provider, model=model, streamed=streamed, **openai_params,
    )
    started.step = _advance(started.route, None)
    return started


def prepare_route(
    *,
    tenant: Any,
    messages: list[dict[str, Any]],
    max_tokens: int | None,
    temperature: float | None,
    provider: str | None,
    model: str | None,
    streamed: bool,
    **openai_params: Any,
) -> Started:
    """Check the arguments and build the routing generator, not yet started (``step`` is
    None): nothing is counted or called until it is advanced."""
    params = _params(max_tokens, temperature, openai_params)
    _check_arguments(messages, params)
    route = _route(tenant, messages, provider, model, params, stream=streamed)
    return Started(route, None, sum(len(str(m.get("content") or "")) for m in messages))


async def finish_route(started: Started) -> RoutingResult:
    """Drive a started (non-streamed) route to its result, asynchronously."""
    route, step = started.route, started.step
    advance = sync_to_async(_advance, thread_sensitive=True)
    while not isinstance(step, _Done):
        reply: Any
        if isinstance(step, _Wait):
            await clock.asleep(step.seconds)
            reply = None
        else:
            try:
                reply = await http_client.arequest(
                    "POST", step.url, api_key=step.api_key, body=step.body
                )
            except http_client.TransportFailure as failure:
                reply = failure
        step = await advance(route, reply)
    return step.result
