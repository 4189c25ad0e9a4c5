"""OpenTelemetry traces of routed requests, following the GenAI semantic conventions.

When a tracer provider is configured (``opentelemetry-instrument``, or the application's
own ``trace.set_tracer_provider``; ``pip install '.[otel]'`` brings ``opentelemetry-api``),
each routed request is a ``chat {model}`` span of kind CLIENT, with one child span per
attempt (each provider call, a retry included). Attributes:

- both: ``gen_ai.operation.name`` ("chat"), ``gen_ai.provider.name``,
  ``gen_ai.request.model``; on success ``gen_ai.response.model``,
  ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``;
- a failed request: ``error.type`` (the exception's class: ``RoutingError``,
  ``StreamError``, ...); a failed attempt: ``error.type`` (its outcome: ``rate_limited``,
  ``timeout``, ``error``, ``auth_error``, ``invalid_request``, ``cancelled``) and
  ``http.response.status_code`` when there was one; ``llm_routing.request_id`` (the usage
  rows' request id) on the request's span.

Never in a span: prompt or completion text, a key, a provider's error message (they may
echo either), a URL.

Without a configured provider nothing changes: the router's generator is returned as it
is, and this module imports nothing from OpenTelemetry. It only looks at an
``opentelemetry.trace`` module someone else already imported (whoever configures a
provider has), so a process without OpenTelemetry, or with it installed but unused,
never loads it.

The hook: ``traced`` wraps ``router._route``, the one generator every driver (complete,
acomplete, streams, the gateway) advances. It watches the steps go by; spans are started
and ended with explicit timestamps and never made "current", so a generator advanced on
several threads (sync_to_async) needs no context handover.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import time
from collections.abc import Callable, Generator
from typing import Any

from llm_routing import outcomes

logger = logging.getLogger(__name__)

_TRACER_NAME = "llm_routing"
_SKIP = ("ProxyTracerProvider", "NoOpTracerProvider")
_cached: tuple[Any, Any] | None = None  # (the provider, its tracer for this module)


def _tracer() -> tuple[Any, Any] | None:
    """(the opentelemetry.trace module, a tracer) when a provider is configured, else None."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    if type(provider).__name__ in _SKIP:
        return None
    global _cached
    cached = _cached
    if cached is None or cached[0] is not provider:
        _cached = cached = (provider, provider.get_tracer(_TRACER_NAME))
    return trace, cached[1]


RouteFunction = Callable[..., Generator[Any, Any, Any]]


def traced(route: RouteFunction) -> RouteFunction:
    """Decorate the routing generator function (router._route): a span per request."""

    signature = inspect.signature(route)

    @functools.wraps(route)
    def wrapper(*args, **kwargs):
        generator = route(*args, **kwargs)
        found = _tracer()
        if found is None:
            return generator
        asked = signature.bind(*args, **kwargs).arguments
        return _traced(generator, *found, provider=asked.get("provider"),
                       model=asked.get("model"), stream=asked.get("stream", False))

    return wrapper


def _traced(route: Generator, trace, tracer, *, provider, model, stream) -> Generator:
    from llm_routing.router import _Call  # here: the router imports this module

    attributes = {"gen_ai.operation.name": "chat", "llm_routing.stream": bool(stream)}
    if provider:
        attributes["gen_ai.provider.name"] = str(provider)
    if model:
        attributes["gen_ai.request.model"] = str(model)
    span = tracer.start_span(
        f"chat {model}" if model else "chat", kind=trace.SpanKind.CLIENT, attributes=attributes
    )
    calls: list[tuple[int, str | None]] = []  # (start in ns, model asked for) per attempt
    send, value = route.send, None
    try:
        while True:
            try:
                step = send(value)
            except StopIteration as stop:
                _end(trace, tracer, span, calls, model, result=stop.value)
                return stop.value
            if isinstance(step, _Call):
                calls.append((time.time_ns(), step.body.get("model")))
            send = route.send
            try:
                value = yield step
            except GeneratorExit:
                route.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - handed on to the route as it is
                send, value = route.throw, exc
    except GeneratorExit:
        _end(trace, tracer, span, calls, model, cancelled=True)
        raise
    except BaseException as exc:
        _end(trace, tracer, span, calls, model, error=exc)
        raise


def _usage(attributes: dict, result) -> None:
    attributes["gen_ai.response.model"] = result.model
    attributes["gen_ai.usage.input_tokens"] = result.usage.prompt_tokens
    attributes["gen_ai.usage.output_tokens"] = result.usage.completion_tokens


def _end(trace, tracer, span, calls, model, *, result=None, error=None, cancelled=False):
    """Add the attempts' child spans and close the request's span. Never raises: a
    tracing fault must not fail a request that was answered."""
    try:
        attempts = tuple(getattr(result if result is not None else error, "attempts", ()))
        parent = trace.set_span_in_context(span)
        for number, (started, asked) in enumerate(calls):
            attempt = attempts[number] if number < len(attempts) else None
            attributes: dict[str, Any] = {"gen_ai.operation.name": "chat"}
            if attempt is not None:
                attributes["gen_ai.provider.name"] = attempt.provider
                attributes["gen_ai.request.model"] = attempt.model
                if attempt.status_code is not None:
                    attributes["http.response.status_code"] = attempt.status_code
                if attempt.outcome == outcomes.SUCCESS:
                    if result is not None and number == len(attempts) - 1:
                        _usage(attributes, result)
                else:
                    attributes["error.type"] = attempt.outcome
                ended = started + attempt.latency_ms * 1_000_000
            else:  # the request ended during this attempt (an exception, the caller left)
                if asked:
                    attributes["gen_ai.request.model"] = str(asked)
                attributes["error.type"] = "cancelled" if cancelled else type(error).__name__
                ended = time.time_ns()
            child = tracer.start_span(
                f"chat {attributes.get('gen_ai.request.model', '')}".rstrip(),
                context=parent, kind=trace.SpanKind.CLIENT, attributes=attributes,
                start_time=started,
            )
            if "error.type" in attributes:
                child.set_status(trace.Status(trace.StatusCode.ERROR))
            child.end(end_time=ended)
        if not model and calls and calls[0][1]:
            span.set_attribute("gen_ai.request.model", str(calls[0][1]))
            span.update_name(f"chat {calls[0][1]}")
        if attempts:
            span.set_attribute("gen_ai.provider.name", attempts[-1].provider)
        request_id = getattr(result if result is not None else error, "request_id", None)
        if request_id is not None:
            span.set_attribute("llm_routing.request_id", str(request_id))
        if result is not None:
            attributes = {}
            _usage(attributes, result)
            span.set_attributes(attributes)
        else:
            span.set_attribute("error.type", "cancelled" if cancelled else type(error).__name__)
            span.set_status(trace.Status(trace.StatusCode.ERROR))
    except Exception:  # noqa: BLE001
        logger.exception("tracing: a routed request's span could not be completed")
    finally:
        span.end()
