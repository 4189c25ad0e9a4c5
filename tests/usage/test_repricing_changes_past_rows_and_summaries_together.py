"""Issue 12, acceptance 4: a price change re-prices a past range on request
(``manage.py reprice_usage``): rows at the prices in force at their time, tenants' own
prices from their date, provider-reported costs kept, and the hour and day summaries
agreeing with the raw rows afterwards; a second run changes nothing; bad arguments change
nothing."""

import io
import threading
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from usage.locks import command_lock
from usage.models import (
    CostSource,
    ModelUsageDaySummary,
    ModelUsageStat,
    ModelUsageSummary,
    Price,
    SummaryState,
    TenantPrice,
)
from usage.records import build
from usage.summary import refresh_summary
from usage.writer import write_records

pytestmark = pytest.mark.django_db

JUNE = datetime(2025, 6, 1, tzinfo=UTC)
MODEL = "repriced-model"


def _price(at, inp, out, **more):
    Price.objects.create(provider="groq", model=MODEL, input_per_million=Decimal(inp),
                         output_per_million=Decimal(out), effective_from=at, **more)


def _replace_list_price(inp, out):
    Price.objects.filter(model=MODEL).delete()
    _price(JUNE, inp, out)


def _rows(tenant, day: int, count: int = 3, step=timedelta(hours=7), **fields):
    """``count`` rows on June ``day`` (one every 7 hours: they span several hours)."""
    write_records([
        build(tenant_id=tenant.pk, provider="groq", model=MODEL, status="success",
              request_id=uuid.uuid4(), attempt=1, prompt_tokens=1000, completion_tokens=500,
              latency_ms=100, created_at=JUNE + timedelta(days=day - 1) + step * i,
              **fields)
        for i in range(count)
    ])


def _reprice(*args) -> str:
    out = io.StringIO()
    call_command("reprice_usage", *args, stdout=out)
    return out.getvalue().strip()


def _costs(tenant) -> list[tuple]:
    """(created_at, cost_pusd, cost_source) of the tenant's rows, oldest first."""
    return sorted(ModelUsageStat.objects.filter(tenant_id=tenant.pk).values_list(
        "created_at", "cost_pusd", "cost_source"))


def _assert_summaries_agree_with_rows():
    """Per tenant and UTC hour, and per tenant and UTC day: summary cost and unknown-cost
    count == the raw rows'."""
    hours, days = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0])
    for tenant, at, cost in ModelUsageStat.objects.values_list(
        "tenant_id", "created_at", "cost_pusd"
    ):
        for table, key in ((hours, at.replace(minute=0, second=0, microsecond=0)),
                           (days, at.replace(hour=0, minute=0, second=0, microsecond=0))):
            table[tenant, key][0] += cost or 0
            table[tenant, key][1] += cost is None
    summary_hours, summary_days = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0])
    for tenant, hour, cost, unknown in ModelUsageSummary.objects.values_list(
        "tenant_id", "hour", "cost_pusd", "cost_unknown"
    ):
        summary_hours[tenant, hour][0] += cost
        summary_hours[tenant, hour][1] += unknown
    for tenant, day, cost, unknown in ModelUsageDaySummary.objects.values_list(
        "tenant_id", "day", "cost_pusd", "cost_unknown"
    ):
        summary_days[tenant, day][0] += cost
        summary_days[tenant, day][1] += unknown
    assert dict(summary_hours) == dict(hours)
    assert dict(summary_days) == dict(days)


@pytest.fixture
def history(make_tenant):
    """Two tenants with three June days of rows at the list price of June 1 ($1/$2), one
    row a provider-reported cost, all summarised."""
    _price(JUNE, "1", "2")
    mine, other = make_tenant(), make_tenant()
    for tenant in (mine, other):
        for day in (1, 2, 3):
            _rows(tenant, day)
    _rows(mine, 2, count=1, provider_cost=Decimal("0.5"))
    refresh_summary()
    return mine, other


LIST = 1000 * 1_000_000 + 500 * 2_000_000  # pico-dollars of a row at $1/$2
CHANGED = 1000 * 3_000_000 + 500 * 4_000_000  # at $3/$4
REPORTED = 5 * 10**11  # the provider's $0.5


def test_a_price_dated_back_reprices_the_rows_after_its_date_and_their_summaries(history):
    mine, other = history
    _price(JUNE + timedelta(days=1), "3", "4")  # in force from June 2
    before = ModelUsageStat.objects.filter(cost_source=CostSource.PRICE_TABLE)
    assert set(before.values_list("cost_pusd", flat=True)) == {LIST}

    said = _reprice("--from", "2025-06-01", "--to", "2025-06-03")

    assert "12 repriced" in said and "1 provider-reported costs kept" in said
    for tenant in (mine, other):
        for at, cost, source in _costs(tenant):
            if source == CostSource.PROVIDER:
                assert cost == REPORTED
            else:
                assert cost == (LIST if at.day == 1 else CHANGED), at
    _assert_summaries_agree_with_rows()
    # Idempotent: the second run finds every row at its price.
    again = _reprice("--from", "2025-06-01", "--to", "2025-06-03")
    assert "0 repriced" in again and "0 summary hours" in again
    _assert_summaries_agree_with_rows()


def test_a_tenants_own_price_applies_from_its_date_and_only_to_that_tenant(history):
    mine, other = history
    TenantPrice.objects.create(tenant=mine, provider="groq", model=MODEL,
                               input_per_million=Decimal("0.5"),
                               output_per_million=Decimal("0.5"),
                               effective_from=JUNE + timedelta(days=2))  # from June 3
    said = _reprice("--from", "2025-06-01", "--to", "2025-06-03", "--tenant", mine.slug)
    assert "3 repriced" in said
    own = 1500 * 500_000
    assert {(at.day, cost) for at, cost, source in _costs(mine)
            if source != CostSource.PROVIDER} == {(1, LIST), (2, LIST), (3, own)}
    assert {cost for _, cost, _ in _costs(other)} == {LIST}
    _assert_summaries_agree_with_rows()
    # Rows written after the override are priced by it at once (the other tenant's not).
    _rows(mine, 4, count=1)
    _rows(other, 4, count=1)
    assert _costs(mine)[-1][1:] == (own, CostSource.PRICE_TABLE)
    assert _costs(other)[-1][1:] == (LIST, CostSource.PRICE_TABLE)


def test_cached_and_reasoning_prices_reprice_rows_with_those_tokens(make_tenant):
    _price(JUNE, "1", "2")
    tenant = make_tenant()
    _rows(tenant, 1, count=2, cached_tokens=800, reasoning_tokens=300)
    refresh_summary()
    assert {cost for _, cost, _ in _costs(tenant)} == {LIST}  # billed as input and output
    _price(JUNE + timedelta(hours=1), "1", "2", cached_input_per_million=Decimal("0.1"),
           reasoning_per_million=Decimal("8"))
    _reprice("--from", "2025-06-01", "--to", "2025-06-01")
    first, second = _costs(tenant)
    assert first[1] == LIST  # before the new price
    assert second[1] == 200 * 1_000_000 + 800 * 100_000 + 200 * 2_000_000 + 300 * 8_000_000
    _assert_summaries_agree_with_rows()


def test_rows_not_yet_summarised_are_repriced_and_summarised_once(history):
    mine, _ = history
    _rows(mine, 2, count=2)  # above the watermark
    _replace_list_price("5", "5")  # a corrected list price, from the same date
    _reprice("--from", "2025-06-01", "--to", "2025-06-30")
    refresh_summary()
    assert not ModelUsageStat.objects.filter(cost_pusd=LIST).exists()
    _assert_summaries_agree_with_rows()


def test_a_dry_run_says_what_would_change_and_changes_nothing(history):
    _replace_list_price("9", "9")
    rows = list(ModelUsageStat.objects.values_list("id", "cost_pusd", "cost_source"))
    hours = list(ModelUsageSummary.objects.values_list("id", "cost_pusd"))
    said = _reprice("--from", "2025-06-01", "--to", "2025-06-30", "--dry-run")
    assert "dry run, nothing changed" in said and "18 would be repriced" in said
    assert list(ModelUsageStat.objects.values_list("id", "cost_pusd", "cost_source")) == rows
    assert list(ModelUsageSummary.objects.values_list("id", "cost_pusd")) == hours


def test_the_provider_and_model_filters_limit_the_rows(history):
    mine, _ = history
    other_model = "another-model"
    write_records([build(tenant_id=mine.pk, provider="groq", model=other_model,
                         status="success", request_id=uuid.uuid4(), attempt=1,
                         prompt_tokens=10, completion_tokens=10, created_at=JUNE)])
    Price.objects.create(provider="groq", model=other_model, input_per_million=1,
                         output_per_million=1, effective_from=JUNE - timedelta(days=1))
    said = _reprice("--from", "2025-06-01", "--to", "2025-06-30", "--provider", "groq",
                    "--model", MODEL)
    assert "0 repriced" in said
    assert ModelUsageStat.objects.get(model__name=other_model).cost_pusd is None


def _snapshot():
    return (
        sorted(ModelUsageStat.objects.values_list("id", "cost_pusd", "cost_source")),
        sorted(ModelUsageSummary.objects.values_list("tenant_id", "hour", "model_id",
                                                     "cost_pusd")),
        sorted(ModelUsageDaySummary.objects.values_list("tenant_id", "day", "model_id",
                                                        "cost_pusd")),
    )


@pytest.mark.parametrize("args, message", [
    (["--from", "2025-06-03", "--to", "2025-06-01"], "is not before"),
    (["--from", "2025-06-01T12:00", "--to", "2025-06-01T12:00"], "is not before"),
    (["--from", "June 1st", "--to", "2025-06-03"], "give an ISO date"),
    (["--from", "2025-06-01", "--to", "2025-13-01"], "give an ISO date"),
    (["--from", "2025-06-01", "--to", "2025-06-03", "--tenant", "nobody"], "no tenant"),
    (["--from", "2025-06-01", "--to", "2025-06-03", "--model", MODEL], "needs --provider"),
    (["--from", "2025-06-01", "--to", "2025-06-03", "--provider", "nope"], "no usage"),
    (["--from", "2025-06-01", "--to", "2025-06-03", "--provider", "groq", "--model", "x"],
     "no usage"),
    (["--from", "2025-06-01", "--to", "2025-06-03", "--batch-size", "5"], "at least"),
])
def test_bad_arguments_get_a_clear_error_and_change_nothing(history, args, message):
    _replace_list_price("7", "7")
    before = _snapshot()
    with pytest.raises(CommandError, match=message):
        call_command("reprice_usage", *args, stdout=io.StringIO())
    assert _snapshot() == before


def test_a_range_reaching_before_the_prune_cut_off_is_refused(history):
    SummaryState.objects.filter(pk=1).update(pruned_before=JUNE + timedelta(days=1))
    _replace_list_price("7", "7")
    before = _snapshot()
    with pytest.raises(CommandError, match="were pruned"):
        call_command("reprice_usage", "--from", "2025-06-01", "--to", "2025-06-03",
                     stdout=io.StringIO())
    assert _snapshot() == before
    assert "repriced" in _reprice("--from", "2025-06-02", "--to", "2025-06-03")
    _assert_summaries_agree_with_rows()


def test_batches_smaller_than_the_range_reprice_it_all(history):
    _rows(history[0], 5, count=300, step=timedelta(minutes=1))
    refresh_summary()
    _replace_list_price("3", "4")
    said = _reprice("--from", "2025-06-01", "--to", "2025-06-30", "--batch-size", "100")
    assert "318 repriced" in said
    assert set(ModelUsageStat.objects.filter(
        cost_source=CostSource.PRICE_TABLE).values_list("cost_pusd", flat=True)) == {CHANGED}
    _assert_summaries_agree_with_rows()


def test_a_reprice_while_another_runs_does_nothing(history):
    # The other holder is another thread, hence another database session (PostgreSQL's
    # advisory locks are re-entrant within one session).
    held, release, result = threading.Event(), threading.Event(), []

    def other_run():
        try:
            with command_lock("reprice_usage") as acquired:
                result.append(acquired)
                held.set()
                release.wait(30)
        finally:
            connection.close()

    _replace_list_price("3", "4")
    before = _snapshot()
    thread = threading.Thread(target=other_run)
    thread.start()
    try:
        assert held.wait(30) and result == [True]
        said = _reprice("--from", "2025-06-01", "--to", "2025-06-03")
        assert said == "usage reprice: another reprice is running; nothing done"
        assert _snapshot() == before
    finally:
        release.set()
        thread.join(30)
    assert "repriced" in _reprice("--from", "2025-06-01", "--to", "2025-06-03")
    assert _snapshot() != before
