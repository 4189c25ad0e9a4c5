"""Budgets on the routing path (issue 12): a hard budget refuses once spent, with its own
usage row and an error that says the window, the limit and the reset; a soft one lets
requests through; failed and cancelled calls give their reservation back; windows follow
the tenant's time zone across DST changes (a controlled clock)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum

from llm_routing import BudgetExceeded, RoutingError, complete, stream
from llm_routing.providers import get_provider
from llm_routing.router import _Candidate, _prompt_bound, _worst_case
from usage import budgets
from usage.models import Budget, BudgetHold, BudgetWindow, ModelUsageStat, Price
from usage.statuses import Status

MODEL = "budget-model"
HELLO = [{"role": "user", "content": "hello"}]
# The stub answers "Hello from the stub provider.": 5 completion tokens, 1 prompt token.
PER_TOKEN_USD = Decimal("0.001")  # 1,000 USD per million tokens: easy sums


@pytest.fixture
def priced(db):
    Price.objects.create(
        provider="groq", model=MODEL, input_per_million=1000, output_per_million=1000,
        effective_from=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )


@pytest.fixture
def tenant(make_tenant, priced):
    return make_tenant(
        slug="spender", keys=("groq",), preferred_provider="groq",
        provider_models={"groq": MODEL}, failover_order=[],
    )


def worst(max_tokens):
    candidate = _Candidate(get_provider("groq"), MODEL)
    params = {"max_tokens": max_tokens}
    return _worst_case(candidate, _prompt_bound(HELLO, params), params)


def spent_in_ledger(tenant) -> int:
    rows = ModelUsageStat.objects.filter(tenant_id=tenant.pk, status=Status.SUCCESS)
    return rows.aggregate(total=Sum("cost_pusd"))["total"] or 0


def held(tenant) -> int:
    holds = BudgetHold.objects.filter(window__tenant_id=tenant.pk)
    return holds.aggregate(total=Sum("amount_pusd"))["total"] or 0


def test_a_hard_budget_admits_up_to_its_limit_then_refuses_with_its_own_row(
    tenant, stub_provider
):
    limit = Decimal("0.05")
    Budget.objects.create(tenant=tenant, period="month", limit_usd=limit, mode="hard")
    answered, refusal = 0, None
    for _ in range(100):
        try:
            complete(tenant=tenant, messages=HELLO, max_tokens=8)
            answered += 1
        except BudgetExceeded as exc:
            refusal = exc
            break
    assert refusal is not None, "the budget never refused"
    cost = (1 + 5) * PER_TOKEN_USD  # what each answered request cost
    assert answered == int(limit / cost) + (1 if limit % cost else 0)
    spent = spent_in_ledger(tenant)
    limit_pusd = int(limit * 10**12)
    assert limit_pusd <= spent <= limit_pusd + worst(8)

    # The error says what was passed and when it resets; it is a RoutingError.
    assert isinstance(refusal, RoutingError)
    assert refusal.window == "month" and refusal.limit == limit
    assert refusal.spent == Decimal(spent) / 10**12
    starts, ends = budgets.window_bounds("month", tenant.timezone, dt.datetime.now(dt.UTC))
    assert refusal.resets_at == ends
    assert "monthly budget of $0.05 is spent" in refusal.reason
    assert refusal.attempts[-1].outcome == "budget_exceeded"

    # No provider was called for it, and it has its own ledger row.
    served = stub_provider.served("groq", MODEL)
    with pytest.raises(BudgetExceeded):
        complete(tenant=tenant, messages=HELLO, max_tokens=8)
    assert stub_provider.served("groq", MODEL) == served == answered
    refused = ModelUsageStat.objects.filter(tenant_id=tenant.pk, status=Status.BUDGET_EXCEEDED)
    assert refused.count() == 2
    assert {r.error_type for r in refused} == {"budget_month"}
    window = BudgetWindow.objects.get(tenant_id=tenant.pk, period="month")
    assert window.refused == 2 and window.spent_pusd == spent
    assert (window.starts_at, window.ends_at) == (starts, ends)
    assert held(tenant) == 0


def test_the_tightest_budget_refuses_and_the_other_keeps_nothing_reserved(tenant):
    Budget.objects.create(tenant=tenant, period="month", limit_usd=10, mode="hard")
    Budget.objects.create(tenant=tenant, period="day", limit_usd=Decimal("0.01"), mode="hard")
    complete(tenant=tenant, messages=HELLO, max_tokens=8)
    complete(tenant=tenant, messages=HELLO, max_tokens=8)
    with pytest.raises(BudgetExceeded) as refused:
        complete(tenant=tenant, messages=HELLO, max_tokens=8)
    assert refused.value.window == "day"
    budgets.flush()
    month = BudgetWindow.objects.get(tenant_id=tenant.pk, period="month")
    assert month.spent_pusd == spent_in_ledger(tenant) == 2 * 6 * 10**9
    assert held(tenant) == 0  # the month's reservation for the refused call went back


def test_a_soft_budget_lets_requests_through_past_its_limit(tenant):
    Budget.objects.create(tenant=tenant, period="day", limit_usd=Decimal("0.01"), mode="soft")
    for _ in range(5):
        complete(tenant=tenant, messages=HELLO, max_tokens=8)
    budgets.flush()
    window = BudgetWindow.objects.get(tenant_id=tenant.pk, period="day")
    assert window.spent_pusd == spent_in_ledger(tenant) == 5 * 6 * 10**9 > 10**10
    assert window.refused == 0 and held(tenant) == 0


def test_a_failed_call_gives_its_reservation_back(tenant, stub_provider):
    Budget.objects.create(tenant=tenant, period="month", limit_usd=1, mode="hard")
    stub_provider.configure("groq", status=500)
    with pytest.raises(RoutingError) as failed:
        complete(tenant=tenant, messages=HELLO, max_tokens=8)
    assert not isinstance(failed.value, BudgetExceeded)
    window = BudgetWindow.objects.get(tenant_id=tenant.pk, period="month")
    assert window.spent_pusd == 0 and held(tenant) == 0


def test_a_cancelled_stream_counts_what_it_received_and_releases_the_rest(
    tenant, stub_provider
):
    Budget.objects.create(tenant=tenant, period="month", limit_usd=1, mode="hard")
    stub_provider.configure("groq", stream_chunks=20, stream_chunk_delay=0.02)
    with stream(tenant=tenant, messages=HELLO, max_tokens=8) as live:
        for n, _chunk in enumerate(live, 1):
            if n == 2:
                break
    window = BudgetWindow.objects.get(tenant_id=tenant.pk, period="month")
    row = ModelUsageStat.objects.get(tenant_id=tenant.pk, status=Status.CANCELLED)
    assert row.tokens_estimated
    # Estimated tokens at the price: budgets count them (a price times an estimate is no
    # cost in the ledger, but it was spent).
    expected = (row.prompt_tokens + row.completion_tokens) * 10**9
    assert 0 < window.spent_pusd == expected < worst(8)
    assert held(tenant) == 0


def test_an_unpriced_model_counts_the_configured_estimate(make_tenant, settings):
    settings.USAGE_BUDGET_UNPRICED_ESTIMATE_USD = 0.02
    tenant = make_tenant(
        slug="unpriced", keys=("groq",), preferred_provider="groq",
        provider_models={"groq": "no-price-model"}, failover_order=[],
    )
    Budget.objects.create(tenant=tenant, period="day", limit_usd=Decimal("0.05"), mode="hard")
    for _ in range(3):
        complete(tenant=tenant, messages=HELLO, max_tokens=8)
    with pytest.raises(BudgetExceeded):
        complete(tenant=tenant, messages=HELLO, max_tokens=8)
    window = BudgetWindow.objects.get(tenant_id=tenant.pk, period="day")
    assert window.spent_pusd == window.estimated_pusd == 3 * 2 * 10**10


def test_a_budget_change_applies_to_the_next_request(tenant):
    budget = Budget.objects.create(tenant=tenant, period="day", limit_usd=0, mode="hard")
    with pytest.raises(BudgetExceeded):
        complete(tenant=tenant, messages=HELLO, max_tokens=8)
    budget.limit_usd = 1
    budget.save()
    assert complete(tenant=tenant, messages=HELLO, max_tokens=8).provider == "groq"
    budget.delete()
    assert complete(tenant=tenant, messages=HELLO, max_tokens=8).provider == "groq"


# --- windows in the tenant's time zone ---------------------------------------------------------

AMS = "Europe/Amsterdam"


def utc(*args):
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("at", "period", "bounds"),
    [
        # October 2026 starts in summer time (UTC+2) and ends in winter time (UTC+1).
        (utc(2026, 10, 15), "month", (utc(2026, 9, 30, 22), utc(2026, 10, 31, 23))),
        (utc(2026, 10, 31, 22, 59), "month", (utc(2026, 9, 30, 22), utc(2026, 10, 31, 23))),
        (utc(2026, 10, 31, 23), "month", (utc(2026, 10, 31, 23), utc(2026, 11, 30, 23))),
        # March 2026: winter time to summer time on the 29th.
        (utc(2026, 3, 31, 21, 59), "month", (utc(2026, 2, 28, 23), utc(2026, 3, 31, 22))),
        (utc(2026, 3, 31, 22), "month", (utc(2026, 3, 31, 22), utc(2026, 4, 30, 22))),
        # The DST days are 23 and 25 hours long.
        (utc(2026, 3, 29, 12), "day", (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))),
        (utc(2026, 10, 25, 12), "day", (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))),
        # New Year in Amsterdam is an hour before UTC's.
        (utc(2026, 12, 31, 23, 30), "month", (utc(2026, 12, 31, 23), utc(2027, 1, 31, 23))),
    ],
)
def test_windows_start_at_local_midnight(at, period, bounds):
    assert budgets.window_bounds(period, AMS, at) == bounds


def test_the_monthly_window_resets_at_local_midnight_on_the_first_across_dst(
    make_tenant, priced, routing_clock
):
    tenant = make_tenant(
        slug="amsterdam", keys=("groq",), preferred_provider="groq",
        provider_models={"groq": MODEL}, failover_order=[],
    )
    tenant.timezone = AMS
    tenant.save()
    Budget.objects.create(tenant=tenant, period="month", limit_usd=Decimal("0.01"), mode="hard")
    # Late on 31 October, local time: the clocks went back on the 25th.
    routing_clock.set(utc(2026, 10, 31, 22, 58))
    complete(tenant=tenant, messages=HELLO, max_tokens=8)
    complete(tenant=tenant, messages=HELLO, max_tokens=8)
    with pytest.raises(BudgetExceeded) as refused:
        complete(tenant=tenant, messages=HELLO, max_tokens=8)
    assert refused.value.resets_at == utc(2026, 10, 31, 23)  # 00:00 on 1 November, CET
    routing_clock.set(utc(2026, 10, 31, 22, 59, 59))
    with pytest.raises(BudgetExceeded):
        complete(tenant=tenant, messages=HELLO, max_tokens=8)
    routing_clock.set(utc(2026, 10, 31, 23, 0, 0))  # local midnight: a new window
    assert complete(tenant=tenant, messages=HELLO, max_tokens=8).provider == "groq"
    windows = BudgetWindow.objects.filter(tenant_id=tenant.pk).order_by("starts_at")
    assert [(w.starts_at, w.spent_pusd) for w in windows] == [
        (utc(2026, 9, 30, 22), 2 * 6 * 10**9),
        (utc(2026, 10, 31, 23), 6 * 10**9),
    ]


def test_llm_chat_refuses_with_the_budget_and_when_it_resets(tenant, capsys):
    from django.core.management import CommandError, call_command

    Budget.objects.create(tenant=tenant, period="day", limit_usd=0, mode="hard")
    with pytest.raises(CommandError) as refused:
        call_command("llm_chat", "hello there", tenant=tenant.slug)
    assert "daily budget of $0 is spent" in str(refused.value)
    assert "resets at" in str(refused.value)
    assert "budget_exceeded" in capsys.readouterr().out
    assert ModelUsageStat.objects.filter(
        tenant_id=tenant.pk, status=Status.BUDGET_EXCEEDED
    ).count() == 1
