"""OpenTelemetry traces of routed requests (llm_routing/tracing.py): a span per request and
one child per attempt, with the GenAI attributes; no key and no text in any span; and
nothing at all, not even an import, without a configured tracer provider."""

import asyncio
import os
import subprocess
import sys

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_routing import RoutingError, acomplete, complete, stream
from tests.canaries import assert_no_trace
from tests.llm_routing.test_processes import MANAGE, database_url

PROMPT = "Tell me about the violet walrus of Trondheim"
ASK = [{"role": "user", "content": PROMPT}]
ANSWER = "Hello from the stub provider."


@pytest.fixture
def spans(monkeypatch):
    """A configured tracer provider (this test's only) exporting to memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    return exporter


def family(exporter):
    """(the request's span, its children in start order)."""
    finished = exporter.get_finished_spans()
    parents = [s for s in finished if s.parent is None]
    assert len(parents) == 1, [s.name for s in finished]
    parent = parents[0]
    children = [s for s in finished if s.parent is not None]
    assert all(c.parent.span_id == parent.context.span_id for c in children)
    assert all(c.context.trace_id == parent.context.trace_id for c in children)
    return parent, sorted(children, key=lambda s: s.start_time)


def everything(exporter) -> str:
    return "\n".join(s.to_json() for s in exporter.get_finished_spans())


def test_a_failover_is_one_request_span_with_a_child_per_attempt(
    make_tenant, stub_provider, spans
):
    tenant = make_tenant()
    stub_provider.configure("groq", status=503)
    result = complete(tenant=tenant, messages=ASK, max_tokens=16)
    assert result.provider == "openrouter"

    parent, children = family(spans)
    assert parent.name == f"chat {result.attempts[0].model}"  # the model asked for first
    assert parent.kind == trace.SpanKind.CLIENT
    assert dict(parent.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openrouter",
        "gen_ai.request.model": result.attempts[0].model,
        "gen_ai.response.model": result.model,
        "gen_ai.usage.input_tokens": result.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": result.usage.completion_tokens,
        "llm_routing.stream": False,
        "llm_routing.request_id": str(result.request_id),
    }
    assert parent.status.is_ok
    failed, answered = children
    assert dict(failed.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "groq",
        "gen_ai.request.model": result.attempts[0].model,
        "http.response.status_code": 503,
        "error.type": "error",
    }
    assert failed.status.status_code == trace.StatusCode.ERROR
    assert dict(answered.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openrouter",
        "gen_ai.request.model": result.attempts[1].model,
        "gen_ai.response.model": result.model,
        "gen_ai.usage.input_tokens": result.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": result.usage.completion_tokens,
        "http.response.status_code": 200,
    }
    assert parent.start_time <= failed.start_time <= answered.start_time <= parent.end_time
    assert answered.end_time <= parent.end_time

    text = everything(spans)
    assert PROMPT not in text and ANSWER not in text
    assert_no_trace(text, [stub_provider.good_key(p) for p in ("groq", "openrouter", "llm7")])


def test_a_request_every_provider_refuses_is_an_error_span_with_no_canary_in_it(
    canary_tenant, spans
):
    tenant, keys = canary_tenant  # the stub refuses these keys: 401 everywhere
    with pytest.raises(RoutingError) as caught:
        complete(tenant=tenant, messages=ASK, max_tokens=16)
    parent, children = family(spans)
    assert parent.attributes["error.type"] == "RoutingError"
    assert parent.status.status_code == trace.StatusCode.ERROR
    assert len(children) == len(caught.value.attempts) >= 1
    assert {c.attributes["error.type"] for c in children} == {"auth_error"}
    text = everything(spans)
    assert PROMPT not in text
    assert_no_trace(text, keys.values())


@pytest.mark.django_db(transaction=True)
def test_async_and_streamed_requests_are_traced_the_same_way(make_tenant, stub_provider, spans):
    tenant = make_tenant(preferred_provider="llm7")

    async def ask():
        try:
            return await acomplete(tenant=tenant, messages=ASK, max_tokens=16)
        finally:
            await sync_to_async(connections.close_all)()

    result = asyncio.run(ask())
    parent, children = family(spans)
    assert parent.attributes["gen_ai.response.model"] == result.model
    assert [c.attributes["gen_ai.provider.name"] for c in children] == ["llm7"]

    spans.clear()
    with stream(tenant=tenant, messages=ASK, max_tokens=16) as s:
        text = "".join(chunk.text for chunk in s)
    assert text == ANSWER
    parent, children = family(spans)
    assert parent.attributes["llm_routing.stream"] is True
    assert parent.attributes["gen_ai.usage.output_tokens"] == s.result.usage.completion_tokens
    assert len(children) == 1
    assert ANSWER not in everything(spans) and PROMPT not in everything(spans)


# Runs in a child process: route one request, then list the OpenTelemetry modules loaded.
CHILD = """
import sys
if sys.argv[1] == "absent":
    sys.modules["opentelemetry"] = None  # as if not installed: any import of it fails
sys.argv = ["manage.py", "llm_chat", "--tenant", "plain", "hello"]
from django.core.management import execute_from_command_line
execute_from_command_line(sys.argv)
loaded = [m for m, v in sys.modules.items() if m.startswith("opentelemetry") and v is not None]
print("otel modules:", loaded)
"""


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("otel", ["absent", "installed but not configured"])
def test_without_a_tracer_provider_routing_loads_nothing_of_opentelemetry(
    make_tenant, stub_provider, settings, otel
):
    make_tenant(slug="plain", preferred_provider="llm7")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "GROQ_BASE_URL": stub_provider.base_url("groq"),
        "OPENROUTER_BASE_URL": stub_provider.base_url("openrouter"),
        "LLM7_BASE_URL": stub_provider.base_url("llm7"),
        "LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, otel.split()[0]], cwd=os.path.dirname(MANAGE), env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "answered by llm7" in done.stdout
    assert "otel modules: []" in done.stdout, done.stdout
