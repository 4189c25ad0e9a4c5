import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

import llm_routing
from llm_routing import RoutingError, complete
from tenants.models import Tenant
from tests.llm_routing.conftest import usage_rows

HI = [{"role": "user", "content": "hi there"}]


def test_preferred_provider_answers_in_one_attempt(make_tenant, stub_provider):
    tenant = make_tenant()
    result = complete(tenant=tenant, messages=HI, max_tokens=32, temperature=0.2)
    assert result.provider == "groq"
    assert result.content == "Hello from the stub provider."
    assert [(a.provider, a.outcome) for a in result.attempts] == [("groq", "success")]
    assert result.usage.prompt_tokens == 2 and result.usage.total_tokens == 7
    assert usage_rows(tenant) == [("groq", "success", 1)]
    assert stub_provider.chat_requests("openrouter") == 0


def test_preferred_429_moves_to_the_next_provider_with_two_usage_rows(make_tenant, stub_provider):
    tenant = make_tenant()
    stub_provider.configure("groq", rate_limit_after=0, retry_after="20")
    result = complete(tenant=tenant, messages=HI)
    assert result.provider == "openrouter"
    assert [(a.provider, a.outcome, a.status_code) for a in result.attempts] == [
        ("groq", "rate_limited", 429),
        ("openrouter", "success", 200),
    ]
    assert usage_rows(tenant) == [("groq", "rate_limited", 1), ("openrouter", "success", 2)]
    assert result.cost is not None and result.cost_source == "provider"


def test_auto_failover_off_returns_the_error_after_one_provider(make_tenant, stub_provider):
    tenant = make_tenant(auto_failover=False)
    stub_provider.configure("groq", status=503)
    with pytest.raises(RoutingError) as caught:
        complete(tenant=tenant, messages=HI)
    # The only candidate: a 5xx is retried once on it (a blip), then the call fails.
    assert [(a.provider, a.outcome) for a in caught.value.attempts] == [("groq", "error")] * 2
    assert "failover is off" in caught.value.reason
    assert stub_provider.chat_requests("openrouter") == 0
    assert usage_rows(tenant) == [("groq", "error", 1), ("groq", "error", 2)]


def test_a_400_stops_without_failover(make_tenant, stub_provider):
    tenant = make_tenant()
    stub_provider.configure("groq", status=400)
    with pytest.raises(RoutingError) as caught:
        complete(tenant=tenant, messages=HI)
    assert [a.outcome for a in caught.value.attempts] == ["invalid_request"]
    assert "no other provider was tried" in caught.value.reason
    assert stub_provider.chat_requests("openrouter") == stub_provider.chat_requests("llm7") == 0


@pytest.mark.parametrize(
    ("behaviour", "outcome", "error_type"),
    [
        ({"status": 502}, "error", "http_502"),
        ({"error_in_200": True}, "error", "error_in_200"),
        ({"malformed": True}, "error", "malformed_body"),
    ],
)
def test_transient_failures_move_on(make_tenant, stub_provider, behaviour, outcome, error_type):
    from usage.models import ModelUsageStat

    tenant = make_tenant()
    stub_provider.configure("groq", **behaviour)
    result = complete(tenant=tenant, messages=HI)
    assert result.provider == "openrouter"
    assert result.attempts[0].outcome == outcome
    first = ModelUsageStat.objects.get(tenant_id=tenant.pk, attempt=1)
    assert first.error_type == error_type


def test_a_slow_provider_times_out_and_the_next_answers(make_tenant, stub_provider, settings):
    settings.LLM_HTTP_READ_TIMEOUT = 0.2
    tenant = make_tenant()
    stub_provider.configure("groq", delay=0.6)
    result = complete(tenant=tenant, messages=HI)
    assert result.provider == "openrouter"
    assert result.attempts[0].outcome == "timeout"
    assert usage_rows(tenant)[0] == ("groq", "timeout", 1)


def test_a_refused_key_is_marked_failing_and_routing_moves_on(make_tenant, stub_provider):
    tenant = make_tenant()
    stub_provider.configure("groq", status=401)
    result = complete(tenant=tenant, messages=HI)
    assert result.provider == "openrouter"
    assert result.attempts[0].outcome == "auth_error"
    tenant.refresh_from_db()
    assert tenant.llm_token_status["groq"]["failing_since"]
    assert usage_rows(tenant)[0] == ("groq", "auth_error", 1)


def test_every_provider_failing_raises_with_all_attempts(make_tenant, stub_provider):
    tenant = make_tenant()
    for provider in ("groq", "openrouter", "llm7"):
        stub_provider.configure(provider, status=500)
    with pytest.raises(RoutingError) as caught:
        complete(tenant=tenant, messages=HI)
    # Each provider once, and the last one left once more (a blip should not fail a call).
    assert [a.provider for a in caught.value.attempts] == ["groq", "openrouter", "llm7", "llm7"]
    assert caught.value.reason.startswith("Every provider failed")
    assert len(usage_rows(tenant)) == 4


def test_a_tenant_without_keys_gets_a_readable_error(make_tenant):
    tenant = make_tenant(keys=())
    with pytest.raises(RoutingError, match="No provider is configured") as caught:
        complete(tenant=tenant, messages=HI)
    assert caught.value.attempts == ()


def test_only_configured_providers_are_candidates(make_tenant, stub_provider):
    tenant = make_tenant(keys=("openrouter",))
    result = complete(tenant=tenant, messages=HI)
    assert result.provider == "openrouter"
    assert [s.provider for s in result.skipped] == ["groq"]
    assert stub_provider.chat_requests("groq") == 0


def test_tenant_may_be_given_by_slug_or_id(make_tenant):
    tenant = make_tenant(slug="by-ref")
    assert complete(tenant="by-ref", messages=HI).provider == "groq"
    assert complete(tenant=str(tenant.pk), messages=HI).provider == "groq"
    with pytest.raises(RoutingError, match="No tenant"):
        complete(tenant="no-such-tenant", messages=HI)


def test_provider_and_model_override_apply_to_one_call(make_tenant, stub_provider):
    tenant = make_tenant()
    result = complete(tenant=tenant, messages=HI, provider="llm7", model="deepseek-r1")
    assert (result.provider, result.model) == ("llm7", "deepseek-r1")
    assert complete(tenant=tenant, messages=HI).provider == "groq"


def test_unknown_provider_override_is_an_error_without_attempts(make_tenant):
    tenant = make_tenant()
    with pytest.raises(RoutingError, match="Unknown provider"):
        complete(tenant=tenant, messages=HI, provider="nope")


def test_other_openai_parameters_pass_through(make_tenant, stub_provider, monkeypatch):
    from llm_routing import http_client

    sent = []
    real = http_client.request

    def spy(method, url, **kwargs):
        sent.append(kwargs["body"])
        return real(method, url, **kwargs)

    monkeypatch.setattr(http_client, "request", spy)
    complete(tenant=make_tenant(), messages=HI, max_tokens=9, top_p=0.5, stop=["\n"])
    assert sent[0]["top_p"] == 0.5 and sent[0]["stop"] == ["\n"] and sent[0]["max_tokens"] == 9
    assert sent[0]["model"] == "llama-3.3-70b-versatile"


def test_malformed_arguments_are_refused_before_any_call(make_tenant, stub_provider):
    tenant = make_tenant()
    for bad in ([], "hi", [{"content": "no role"}]):
        with pytest.raises(ValueError):
            complete(tenant=tenant, messages=bad)
    with pytest.raises(ValueError, match=r"stream\(\) or astream"):
        complete(tenant=tenant, messages=HI, stream=True)
    assert stub_provider.chat_requests("groq") == 0


def test_an_inactive_tenant_is_not_routed(make_tenant):
    tenant = make_tenant()
    Tenant.objects.filter(pk=tenant.pk).update(is_active=False)
    tenant.refresh_from_db()
    with pytest.raises(RoutingError, match="inactive"):
        complete(tenant=tenant, messages=HI)


@pytest.mark.django_db(transaction=True)
def test_acomplete_fails_over_like_complete(make_tenant, stub_provider):
    tenant = make_tenant()
    stub_provider.configure("groq", status=503)

    async def run():
        try:
            return await llm_routing.acomplete(tenant=tenant, messages=HI)
        finally:
            # The database steps ran in asgiref's worker thread: close its connection.
            await sync_to_async(connections.close_all)()

    result = asyncio.run(run())
    assert result.provider == "openrouter"
    assert [a.outcome for a in result.attempts] == ["error", "success"]
    assert usage_rows(tenant) == [("groq", "error", 1), ("openrouter", "success", 2)]
