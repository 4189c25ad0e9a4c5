"""After repeated timeouts or 5xx a provider rests for a growing interval, shared through
the state row; the first request after the rest is the probe."""

from llm_routing import complete, fallback
from llm_routing.models import ProviderState
from tests.llm_routing.conftest import usage_rows

HI = [{"role": "user", "content": "hi"}]


def route(tenant, calls=1):
    return [complete(tenant=tenant, messages=HI).provider for _ in range(calls)]


def test_three_failures_in_a_row_open_the_circuit_for_five_seconds(
    make_tenant, stub_provider, routing_clock
):
    stub_provider.configure("groq", status=503)
    tenant = make_tenant(preferred_provider="groq")
    assert route(tenant, 3) == ["openrouter"] * 3
    assert stub_provider.chat_requests("groq") == 3
    state = ProviderState.objects.get(tenant=tenant, provider="groq")
    assert state.failures == 3
    assert "circuit open" in state.cooldown_reason
    assert route(tenant, 5) == ["openrouter"] * 5
    assert stub_provider.chat_requests("groq") == 3  # resting: not asked again

    routing_clock.advance(5.1)  # the rest is over: the next request probes groq
    assert route(tenant) == ["openrouter"]
    assert stub_provider.chat_requests("groq") == 4
    routing_clock.advance(5.1)  # the failed probe doubled the rest to 10 s
    assert route(tenant) == ["openrouter"]
    assert stub_provider.chat_requests("groq") == 4

    stub_provider.configure("groq", status=None)
    routing_clock.advance(5)
    assert route(tenant, 2) == ["groq", "groq"]
    assert ProviderState.objects.get(tenant=tenant, provider="groq").failures == 0


def test_a_success_between_failures_ends_the_streak(make_tenant, stub_provider, routing_clock):
    tenant = make_tenant(preferred_provider="groq")
    for _ in range(4):
        stub_provider.enqueue("groq", 503)
        stub_provider.enqueue("groq", 503)
        assert route(tenant, 2) == ["openrouter", "openrouter"]
        assert route(tenant) == ["groq"]
    assert ProviderState.objects.get(tenant=tenant, provider="groq").cooldown_until is None


def test_timeouts_count_like_server_errors(make_tenant, stub_provider, routing_clock, settings):
    settings.LLM_HTTP_READ_TIMEOUT = 0.2
    stub_provider.configure("llm7", delay=0.5)
    tenant = make_tenant(preferred_provider="llm7", failover_order=["openrouter"])
    assert route(tenant, 4) == ["openrouter"] * 4
    assert stub_provider.chat_requests("llm7") == 3
    statuses = [status for provider, status, _ in usage_rows(tenant) if provider == "llm7"]
    assert statuses == ["timeout"] * 3


def test_the_breaker_state_is_shared_not_per_process(make_tenant, stub_provider, routing_clock):
    stub_provider.configure("groq", status=500)
    tenant = make_tenant(preferred_provider="groq")
    route(tenant, 3)
    fallback.forget()  # as another process would start: nothing of this one's own view
    assert route(tenant) == ["openrouter"]
    assert stub_provider.chat_requests("groq") == 3


def test_the_breaker_can_be_turned_off(make_tenant, stub_provider, routing_clock, settings):
    settings.LLM_BREAKER_FAILURES = 0
    stub_provider.configure("groq", status=503)
    tenant = make_tenant(preferred_provider="groq")
    route(tenant, 6)
    assert stub_provider.chat_requests("groq") == 6
