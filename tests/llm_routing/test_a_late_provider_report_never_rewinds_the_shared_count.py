"""A provider's report of today's use that arrives after other requests were counted
(a slow answer) may only raise the shared count, never lower it below what is reserved."""

from llm_routing import state
from llm_routing.models import ProviderState
from llm_routing.ratelimits import RateLimitReport

ALLOWANCE = state.Allowance(requests=None, tokens=None, threshold=1.0)


def reserve_many(tenant, count):
    return [
        state.reserve(tenant_id=tenant.pk, provider="groq", allowance=ALLOWANCE)
        for _ in range(count)
    ]


def row(tenant):
    return ProviderState.objects.get(tenant=tenant, provider="groq")


def test_a_late_lower_report_leaves_the_reserved_count(make_tenant, routing_clock):
    tenant = make_tenant(keys=("groq",))
    first, *_ = reserve_many(tenant, 320)
    late = RateLimitReport(daily_limit=400, daily_remaining=100)  # "300 used", sent earlier
    state.record(tenant_id=tenant.pk, provider="groq", report=late, reservation=first)
    assert row(tenant).requests_used == 320
    assert row(tenant).reported_limit == 400


def test_a_report_above_the_count_raises_it(make_tenant, routing_clock):
    tenant = make_tenant(keys=("groq",))
    first, *_ = reserve_many(tenant, 10)
    report = RateLimitReport(daily_limit=400, daily_remaining=350)  # 50 used elsewhere too
    state.record(tenant_id=tenant.pk, provider="groq", report=report, reservation=first)
    assert row(tenant).requests_used == 50


def test_at_the_cap_a_late_report_lets_no_request_through(make_tenant, routing_clock):
    tenant = make_tenant(keys=("groq",))
    capped = state.Allowance(requests=320, tokens=None, threshold=1.0)
    taken = [
        state.reserve(tenant_id=tenant.pk, provider="groq", allowance=capped) for _ in range(320)
    ]
    assert all(isinstance(t, state.Reservation) for t in taken)
    late = RateLimitReport(daily_limit=10_000, daily_remaining=9_700)
    state.record(tenant_id=tenant.pk, provider="groq", report=late, reservation=taken[0])
    more = [
        state.reserve(tenant_id=tenant.pk, provider="groq", allowance=capped) for _ in range(20)
    ]
    assert all(isinstance(m, str) for m in more), more
