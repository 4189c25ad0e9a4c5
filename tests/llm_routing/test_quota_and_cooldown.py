import datetime as dt

from llm_routing import complete, provider_status
from llm_routing.models import ProviderState
from tests.llm_routing.conftest import usage_rows

HI = [{"role": "user", "content": "hi"}]


def providers_used(tenant, calls):
    return [complete(tenant=tenant, messages=HI).provider for _ in range(calls)]


def test_daily_quota_at_80_percent_routes_to_the_next_provider_before_any_429(
    make_tenant, stub_provider, routing_clock
):
    # LLM7 sends no rate-limit headers: the project's own counters decide.
    tenant = make_tenant(preferred_provider="llm7", failover_order=["openrouter"],
                         daily_quotas={"llm7": {"requests": 10}})
    assert providers_used(tenant, 10) == ["llm7"] * 8 + ["openrouter"] * 2
    assert stub_provider.chat_requests("llm7") == 8
    assert all(status != "rate_limited" for _, status, _ in usage_rows(tenant))
    assert "quota" in provider_status(tenant=tenant)["llm7"]["skipped_reason"]


def test_quota_threshold_is_configurable(make_tenant, stub_provider, routing_clock):
    tenant = make_tenant(preferred_provider="llm7", quota_threshold=0.5,
                         daily_quotas={"llm7": {"requests": 4}})
    assert providers_used(tenant, 3) == ["llm7", "llm7", "openrouter"]


def test_daily_token_quota_counts_tokens(make_tenant, stub_provider, routing_clock):
    # Each stub answer costs 1 prompt + 5 completion tokens; 80% of 20 tokens is 16.
    tenant = make_tenant(preferred_provider="llm7", daily_quotas={"llm7": {"tokens": 20}})
    assert providers_used(tenant, 4) == ["llm7", "llm7", "llm7", "openrouter"]


def test_groq_headers_are_the_truth_about_daily_use(make_tenant, stub_provider, routing_clock):
    # Groq itself reports 10 requests a day; the tenant's own quota is the larger default.
    stub_provider.configure("groq", daily_cap=10, daily_reset="3h0m0s")
    tenant = make_tenant()
    assert providers_used(tenant, 9) == ["groq"] * 8 + ["openrouter"]
    state = ProviderState.objects.get(tenant=tenant, provider="groq")
    assert (state.requests_used, state.reported_limit) == (8, 10)
    assert stub_provider.chat_requests("groq") == 8  # never pushed into a 429
    routing_clock.advance(3 * 3600 + 1)  # Groq's window resets: back to the preferred one
    assert complete(tenant=tenant, messages=HI).provider == "groq"


def test_quota_window_resets_at_utc_midnight(make_tenant, stub_provider, routing_clock):
    routing_clock.set(dt.datetime(2026, 3, 1, 23, 0, tzinfo=dt.UTC))
    tenant = make_tenant(preferred_provider="llm7", daily_quotas={"llm7": {"requests": 2}})
    assert providers_used(tenant, 3) == ["llm7", "llm7", "openrouter"]
    routing_clock.set(dt.datetime(2026, 3, 2, 0, 0, 1, tzinfo=dt.UTC))
    assert providers_used(tenant, 1) == ["llm7"]
    assert ProviderState.objects.get(tenant=tenant, provider="llm7").requests_used == 1


def test_cooldown_after_429_ends_at_the_reset(make_tenant, stub_provider, routing_clock):
    tenant = make_tenant()
    stub_provider.enqueue("groq", 429, {"retry-after": "20"}, {"error": {"message": "slow down"}})
    assert complete(tenant=tenant, messages=HI).provider == "openrouter"
    routing_clock.advance(19)
    result = complete(tenant=tenant, messages=HI)
    assert result.provider == "openrouter"
    assert "cooling down" in result.skipped[0].reason
    assert stub_provider.chat_requests("groq") == 1  # not hammered while cooling down
    routing_clock.advance(1)
    assert complete(tenant=tenant, messages=HI).provider == "groq"


def test_groq_daily_429_cools_down_until_the_daily_reset(make_tenant, stub_provider, routing_clock):
    tenant = make_tenant()
    stub_provider.enqueue(
        "groq",
        429,
        {
            "retry-after": "30",
            "x-ratelimit-limit-requests": "14400",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "5h0m0s",
        },
    )
    assert complete(tenant=tenant, messages=HI).provider == "openrouter"
    routing_clock.advance(60)  # a per-minute limit would be over by now
    assert complete(tenant=tenant, messages=HI).provider == "openrouter"
    routing_clock.advance(5 * 3600)
    assert complete(tenant=tenant, messages=HI).provider == "groq"


def test_openrouter_reset_in_epoch_milliseconds_sets_the_cooldown(
    make_tenant, stub_provider, routing_clock
):
    tenant = make_tenant(preferred_provider="openrouter", failover_order=["llm7"])
    reset = routing_clock() + dt.timedelta(seconds=45)
    stub_provider.enqueue(
        "openrouter",
        429,
        {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0",
         "X-RateLimit-Reset": str(int(reset.timestamp() * 1000))},
    )
    assert complete(tenant=tenant, messages=HI).provider == "llm7"
    state = ProviderState.objects.get(tenant=tenant, provider="openrouter")
    assert state.cooldown_until == reset
    assert state.last_429_at == routing_clock()


def test_one_tenants_cooldown_leaves_another_tenants_routing_unchanged(
    make_tenant, stub_provider, routing_clock
):
    first, second = make_tenant(slug="first"), make_tenant(slug="second")
    stub_provider.enqueue("groq", 429, {"retry-after": "600"})
    assert complete(tenant=first, messages=HI).provider == "openrouter"
    assert complete(tenant=second, messages=HI).provider == "groq"
    assert complete(tenant=first, messages=HI).provider == "openrouter"
    assert provider_status(tenant=second)["groq"]["cooldown_until"] is None
    assert provider_status(tenant=first)["groq"]["cooldown_until"] is not None


def test_one_tenants_quota_leaves_another_tenants_routing_unchanged(
    make_tenant, stub_provider, routing_clock
):
    quota = {"llm7": {"requests": 1}}
    first = make_tenant(slug="first", preferred_provider="llm7", daily_quotas=quota)
    second = make_tenant(slug="second", preferred_provider="llm7", daily_quotas=quota)
    assert providers_used(first, 2) == ["llm7", "openrouter"]
    assert providers_used(second, 1) == ["llm7"]


def test_provider_status_reports_use_quota_and_threshold(make_tenant, stub_provider, routing_clock):
    tenant = make_tenant(preferred_provider="llm7",
                         daily_quotas={"llm7": {"requests": 50, "tokens": 1000}})
    providers_used(tenant, 3)
    status = provider_status(tenant=tenant)["llm7"]
    assert status["requests_today"] == 3 and status["tokens_today"] == 18
    assert (status["quota_requests"], status["quota_tokens"], status["threshold"]) == (
        50, 1000, 0.8
    )
    assert status["skipped_reason"] is None
    assert provider_status(tenant=tenant)["groq"]["tokens_today"] is None  # no token quota
