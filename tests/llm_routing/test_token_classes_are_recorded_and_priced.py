"""Issue 12: cached-input and reasoning tokens come from the provider's ``usage`` (answers
read whole and streamed), reach the ledger, and are priced at their own rates; a cost the
provider reports (OpenRouter's, with bring-your-own-key's upstream part) wins; garbage in
the details reads as none and never breaks an answer."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from llm_routing import complete, stream
from llm_routing.stub import catalogue as stub_catalogue
from usage.models import CostSource, ModelUsageStat, Price

# Eight words: the stub counts eight prompt tokens; its answer is five tokens.
PROMPT = [{"role": "user", "content": "one two three four five six seven eight"}]
GROQ_MODEL = "llama-3.3-70b-versatile"


def _call(tenant, streamed: bool):
    if not streamed:
        return complete(tenant=tenant, messages=PROMPT)
    with stream(tenant=tenant, messages=PROMPT) as s:
        list(s)
    return s.result


def _row(tenant) -> ModelUsageStat:
    [row] = ModelUsageStat.objects.filter(tenant_id=tenant.pk)
    return row


def _price(provider, model, cached=None, reasoning=None):
    Price.objects.create(
        provider=provider, model=model, input_per_million=Decimal("1"),
        output_per_million=Decimal("2"), cached_input_per_million=cached,
        reasoning_per_million=reasoning, effective_from=timezone.now() - timedelta(days=1),
    )


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_cached_and_reasoning_tokens_are_recorded_and_each_priced_at_its_rate(
    make_tenant, stub_provider, streamed
):
    _price("groq", GROQ_MODEL, cached=Decimal("0.25"), reasoning=Decimal("4"))
    stub_provider.configure("groq", cached_tokens=6, reasoning_tokens=3)
    tenant = make_tenant(preferred_provider="groq")
    result = _call(tenant, streamed)
    row = _row(tenant)
    # completion_tokens includes the reasoning (5 of text + 3), as OpenAI counts it.
    assert (row.prompt_tokens, row.completion_tokens) == (8, 8)
    assert (row.cached_tokens, row.reasoning_tokens) == (6, 3)
    assert (result.usage.cached_tokens, result.usage.reasoning_tokens) == (6, 3)
    # 2 x $1 + 6 x $0.25 + 5 x $2 + 3 x $4, per million tokens, in pico-dollars.
    assert row.cost_pusd == 2_000_000 + 1_500_000 + 10_000_000 + 12_000_000
    assert row.cost_source == CostSource.PRICE_TABLE
    assert result.cost == Decimal("0.0000255") and result.cost_source == "price_table"


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_without_class_prices_cached_is_billed_as_input_and_reasoning_as_output(
    make_tenant, stub_provider, streamed
):
    _price("groq", GROQ_MODEL)
    stub_provider.configure("groq", cached_tokens=6, reasoning_tokens=3)
    tenant = make_tenant(preferred_provider="groq")
    result = _call(tenant, streamed)
    assert _row(tenant).cost_pusd == 8 * 1_000_000 + 8 * 2_000_000
    assert result.cost == Decimal("0.000024")


def _openrouter_cost(stub_provider, tenant, prompt=8, completion=5 + 3) -> Decimal:
    model = _row(tenant).model.name
    price_in, price_out = stub_catalogue.price_per_token("openrouter", model)
    return Decimal(str(round(prompt * price_in + completion * price_out, 10)))


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_openrouters_reported_cost_wins_over_the_price_table(
    make_tenant, stub_provider, streamed
):
    stub_provider.configure("openrouter", cached_tokens=2, reasoning_tokens=3)
    tenant = make_tenant(preferred_provider="openrouter")
    result = _call(tenant, streamed)
    row = _row(tenant)
    reported = _openrouter_cost(stub_provider, tenant)
    assert (row.cached_tokens, row.reasoning_tokens) == (2, 3)
    assert row.cost_source == CostSource.PROVIDER and row.cost_usd == reported
    assert result.cost == reported and result.cost_source == "provider"


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_a_bring_your_own_key_cost_is_openrouters_fee_plus_the_upstream_bill(
    make_tenant, stub_provider, streamed
):
    stub_provider.configure("openrouter", byok=True)
    tenant = make_tenant(preferred_provider="openrouter")
    result = _call(tenant, streamed)
    row = _row(tenant)
    upstream = _openrouter_cost(stub_provider, tenant, completion=5)
    fee = Decimal(str(round(float(upstream) * 0.05, 10)))
    assert row.cost_source == CostSource.PROVIDER and row.cost_usd == fee + upstream
    assert result.cost == fee + upstream


def test_a_bring_your_own_key_report_without_the_upstream_bill_falls_back_to_the_price(
    make_tenant, stub_provider
):
    # Only OpenRouter's fee would understate the cost: the price table decides instead.
    stub_provider.configure("openrouter", byok=True, usage_extra={"cost_details": {}})
    tenant = make_tenant(preferred_provider="openrouter")
    result = complete(tenant=tenant, messages=PROMPT)
    row = _row(tenant)
    assert row.cost_source == CostSource.PRICE_TABLE
    assert result.cost_source == "price_table" and result.cost == row.cost_usd


HOSTILE_DETAILS = [
    {"prompt_tokens_details": "lots", "completion_tokens_details": [1, 2]},
    {"prompt_tokens_details": {"cached_tokens": -5},
     "completion_tokens_details": {"reasoning_tokens": "3"}},
    {"prompt_tokens_details": {"cached_tokens": 10**30},
     "completion_tokens_details": {"reasoning_tokens": 1.5}},
    {"prompt_tokens_details": {"cached_tokens": {"a": [{"b": None}]}},
     "completion_tokens_details": {"reasoning_tokens": True}},
    {"prompt_tokens_details": None, "completion_tokens_details": {"reasoning_tokens": None}},
    {"cost": {"usd": 1}, "is_byok": "yes", "cost_details": "none"},
]


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("details", HOSTILE_DETAILS)
def test_garbage_in_the_usage_details_reads_as_none_and_the_answer_stands(
    make_tenant, stub_provider, streamed, details
):
    stub_provider.configure("openrouter", usage_extra=details)
    tenant = make_tenant(preferred_provider="openrouter")
    result = _call(tenant, streamed)
    row = _row(tenant)
    assert row.get_status_display() == "success" and result.content
    assert (row.cached_tokens, row.reasoning_tokens) == (None, None)
    assert (row.prompt_tokens, row.completion_tokens) == (8, 5)
    assert row.cost_pusd is not None  # the provider's figure or the price table's


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_a_class_larger_than_its_total_is_cut_to_it(make_tenant, stub_provider, streamed):
    stub_provider.configure("groq", usage_extra={
        "prompt_tokens_details": {"cached_tokens": 500},
        "completion_tokens_details": {"reasoning_tokens": 900},
    })
    tenant = make_tenant(preferred_provider="groq")
    _call(tenant, streamed)
    row = _row(tenant)
    assert (row.cached_tokens, row.reasoning_tokens) == (8, 5)
