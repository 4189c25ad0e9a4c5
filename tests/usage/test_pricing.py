"""Acceptance 4: the price in force at the request's time; no price means unknown, not 0."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

import usage
from tests.usage.conftest import rows_of, track_args
from usage.models import CostSource, Price, TenantPrice

OLD = datetime(2025, 1, 1, tzinfo=UTC)
NEW = datetime(2025, 7, 1, tzinfo=UTC)


@pytest.fixture
def prices(db):
    Price.objects.create(provider="groq", model="m1", input_per_million=Decimal("1.00"),
                         output_per_million=Decimal("2.00"), effective_from=OLD)
    Price.objects.create(provider="groq", model="m1", input_per_million=Decimal("0.50"),
                         output_per_million=Decimal("4.000001"), effective_from=NEW)


def test_cost_uses_the_price_in_force_at_the_requests_time(prices):
    def cost(at):
        return usage.cost_for(provider="groq", model="m1", prompt_tokens=1_000_000,
                              completion_tokens=500_000, at=at)

    assert cost(datetime(2025, 3, 1, tzinfo=UTC)) == (Decimal("2"), "price_table")
    assert cost(NEW) == (Decimal("2.5000005"), "price_table")
    assert cost(datetime(2024, 12, 31, 23, 59, tzinfo=UTC)) == (None, "unknown")


def test_an_unpriced_model_costs_unknown_not_zero(db):
    assert usage.cost_for(provider="groq", model="nobody-priced-this", prompt_tokens=10,
                          completion_tokens=10, at=NEW) == (None, "unknown")


def test_a_provider_reported_cost_wins_and_says_so(prices):
    assert usage.cost_for(provider="groq", model="m1", prompt_tokens=10, completion_tokens=10,
                          at=NEW, provider_cost=Decimal("0.000123")) == (Decimal("0.000123"),
                                                                           "provider")


def test_tracked_rows_store_exact_costs_and_their_source(prices, settings, make_tenant):
    settings.USAGE_TRACKER_SYNC = True
    tenant = make_tenant()
    usage.track(**track_args(tenant.pk, 1, model="m1", prompt_tokens=3, completion_tokens=7,
                             created_at=datetime(2025, 3, 1, tzinfo=UTC)))
    usage.track(**track_args(tenant.pk, 2, model="m1", prompt_tokens=3, completion_tokens=7,
                             created_at=datetime(2025, 8, 1, tzinfo=UTC)))
    usage.track(**track_args(tenant.pk, 3, model="unpriced", created_at=NEW))
    usage.track(**track_args(tenant.pk, 4, model="unpriced", created_at=NEW,
                             provider_cost=Decimal("0.0042")))
    by_request = {r.request_id: r for r in rows_of(tenant.pk)}
    costs = [
        (by_request[track_args(tenant.pk, i)["request_id"]].cost_usd,
         by_request[track_args(tenant.pk, i)["request_id"]].cost_source)
        for i in (1, 2, 3, 4)
    ]
    assert costs == [
        (Decimal("0.000017"), CostSource.PRICE_TABLE),          # 3 x 1.00 + 7 x 2.00 per M
        (Decimal("0.000029500007"), CostSource.PRICE_TABLE),    # 3 x 0.50 + 7 x 4.000001 per M
        (None, CostSource.UNKNOWN),
        (Decimal("0.0042"), CostSource.PROVIDER),
    ]


def test_the_shipped_catalogue_prices_the_default_models(db):
    for provider, model in (("groq", "llama-3.3-70b-versatile"), ("groq", "qwen/qwen3-32b"),
                            ("openrouter", "deepseek/deepseek-r1"), ("llm7", "gpt-4o-mini")):
        cost, source = usage.cost_for(provider=provider, model=model, prompt_tokens=1000,
                                      completion_tokens=1000, at=datetime.now(UTC))
        assert source == "price_table" and cost > 0


def test_a_negative_price_is_refused_with_a_clear_error(db):
    from django.core.exceptions import ValidationError

    price = Price(provider="groq", model="m2", input_per_million=Decimal("-1"),
                  output_per_million=Decimal("1"), effective_from=NEW)
    with pytest.raises(ValidationError):
        price.full_clean()


def test_cost_for_without_a_time_prices_at_now_like_track_without_one(
    prices, settings, make_tenant
):
    # One rule for both: None (or nothing) means now. NEW's price is in force today.
    args = dict(provider="groq", model="m1", prompt_tokens=1_000_000, completion_tokens=0)
    assert usage.cost_for(**args, at=None) == (Decimal("0.5"), "price_table")
    assert usage.cost_for(**args) == usage.cost_for(**args, at=datetime.now(UTC))
    settings.USAGE_TRACKER_SYNC = True
    tenant = make_tenant()
    usage.track(**track_args(tenant.pk, model="m1", prompt_tokens=1_000_000,
                             completion_tokens=0, created_at=None))
    (row,) = rows_of(tenant.pk)
    assert row.cost_usd == Decimal("0.5") and row.cost_source == CostSource.PRICE_TABLE


def test_estimated_token_counts_cost_unknown_unless_the_provider_reported_a_cost(
    prices, settings, make_tenant
):
    settings.USAGE_TRACKER_SYNC = True
    tenant = make_tenant()
    at = datetime(2025, 3, 1, tzinfo=UTC)
    assert usage.cost_for(provider="groq", model="m1", prompt_tokens=10, completion_tokens=10,
                          at=at, tokens_estimated=True) == (None, "unknown")
    usage.track(**track_args(tenant.pk, 1, model="m1", created_at=at, tokens_estimated=True))
    usage.track(**track_args(tenant.pk, 2, model="m1", created_at=at, tokens_estimated=True,
                             provider_cost=Decimal("0.5")))
    rows = sorted(rows_of(tenant.pk), key=lambda r: r.cost_source)
    assert [(r.cost_pusd, r.cost_source, r.tokens_estimated) for r in rows] == [
        (None, CostSource.UNKNOWN, True), (500_000_000_000, CostSource.PROVIDER, True)]


# --- issue 12: token classes and tenants' own prices ----------------------------------------


@pytest.fixture
def class_prices(db):
    Price.objects.create(provider="groq", model="r1", input_per_million=Decimal("1"),
                         output_per_million=Decimal("2"), effective_from=OLD)
    Price.objects.create(provider="groq", model="r1", input_per_million=Decimal("1"),
                         output_per_million=Decimal("2"), effective_from=NEW,
                         cached_input_per_million=Decimal("0.1"),
                         reasoning_per_million=Decimal("5"))


def _cost(at, **more):
    return usage.cost_for(provider="groq", model="r1", prompt_tokens=1_000_000,
                          completion_tokens=1_000_000, at=at, **more)


def test_each_token_class_is_priced_at_its_rate_from_the_prices_date(class_prices):
    classes = {"cached_tokens": 600_000, "reasoning_tokens": 250_000}
    # Before the class prices: cached billed as input, reasoning as output.
    assert _cost(datetime(2025, 3, 1, tzinfo=UTC), **classes) == (Decimal("3"), "price_table")
    # 0.4 x $1 + 0.6 x $0.1 + 0.75 x $2 + 0.25 x $5
    assert _cost(NEW, **classes) == (Decimal("3.21"), "price_table")
    assert _cost(NEW) == (Decimal("3"), "price_table")


@pytest.mark.parametrize("cached, reasoning", [
    (-5, "many"), (None, None), ("7", [1]), (10**40, 10**40),
])
def test_token_classes_that_make_no_sense_never_raise_or_cost_more_than_their_total(
    class_prices, cached, reasoning
):
    cost, source = _cost(NEW, cached_tokens=cached, reasoning_tokens=reasoning)
    assert source == "price_table"
    # Never above every token at the dearest rate of its side, never below the cheapest.
    assert Decimal("0.1") + Decimal("2") <= cost <= Decimal("1") + Decimal("5")


def test_a_tenants_own_price_wins_from_its_date_for_that_tenant_only(class_prices,
                                                                     make_tenant):
    mine, other = make_tenant(), make_tenant()
    TenantPrice.objects.create(tenant=mine, provider="groq", model="r1",
                               input_per_million=Decimal("0.5"),
                               output_per_million=Decimal("0.5"),
                               effective_from=datetime(2025, 8, 1, tzinfo=UTC))
    july, august = datetime(2025, 7, 15, tzinfo=UTC), datetime(2025, 8, 15, tzinfo=UTC)
    assert _cost(july, tenant_id=mine.pk) == (Decimal("3"), "price_table")
    assert _cost(august, tenant_id=mine.pk) == (Decimal("1"), "price_table")
    assert _cost(august, tenant_id=str(mine.pk)) == (Decimal("1"), "price_table")
    assert _cost(august, tenant_id=other.pk) == (Decimal("3"), "price_table")
    assert _cost(august) == (Decimal("3"), "price_table")
    # The provider's own figure still wins over the tenant's price.
    assert _cost(august, tenant_id=mine.pk, provider_cost=Decimal("0.7")) == (
        Decimal("0.7"), "provider")


def test_the_worst_case_bounds_every_split_into_classes(class_prices, make_tenant):
    from usage.pricing import cost_pico, worst_case_pico

    tenant = make_tenant()
    worst = worst_case_pico(provider="groq", model="r1", prompt_tokens=1000,
                            completion_tokens=1000, at=NEW, tenant_id=tenant.pk)
    assert worst == 1000 * 1_000_000 + 1000 * 5_000_000  # reasoning is the dearer output
    for cached in (0, 500, 1000):
        for reasoning in (0, 500, 1000):
            cost, _ = cost_pico(provider="groq", model="r1", prompt_tokens=1000,
                                completion_tokens=1000, at=NEW, tenant_id=tenant.pk,
                                cached_tokens=cached, reasoning_tokens=reasoning)
            assert cost <= worst
    assert worst_case_pico(provider="groq", model="unpriced", prompt_tokens=1,
                           completion_tokens=1, at=NEW) is None
