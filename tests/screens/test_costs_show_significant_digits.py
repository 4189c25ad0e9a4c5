"""Issue 13: a known cost that is not zero never reads as a rounded zero, on any page; an
unknown cost reads "unknown", never $0. One formatting rule: usage.money.format_usd."""

import re
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

import usage
from usage.models import ModelUsageStat
from usage.money import format_usd

TINY = Decimal("0.00000045")  # the 4.5e-7: "$0.000000" before


@pytest.mark.parametrize("value, shown", [
    (TINY, "$0.00000045"),
    (4.5e-7, "$0.00000045"),
    (Decimal("1E-12"), "$0.000000000001"),
    (Decimal("0.0020685"), "$0.002069"),
    (Decimal("0.5"), "$0.50"),
    (Decimal("1.234567"), "$1.235"),
    (Decimal("1234.567"), "$1234.57"),
    (Decimal("0.0099996"), "$0.01"),
    (0, "$0"),
    (None, "unknown"),
    (float("nan"), "unknown"),
])
def test_a_cost_keeps_four_significant_digits_and_at_least_cents(value, shown):
    assert format_usd(value) == shown


def test_a_tiny_cost_never_rounds_to_zero():
    for exponent in range(-12, 0):
        text = format_usd(Decimal(3).scaleb(exponent))
        assert re.search(r"[1-9]", text), text


def _track(tenant, provider_cost):
    usage.track(tenant_id=tenant.pk, provider="openrouter", model="deepseek/deepseek-r1",
                status="success", request_id=uuid.uuid4(), attempt=1, prompt_tokens=1,
                completion_tokens=1, latency_ms=50, provider_cost=provider_cost)


@pytest.fixture
def tiny_cost_row(settings, tenant_a):
    settings.USAGE_TRACKER_SYNC = True
    _track(tenant_a, TINY)
    return ModelUsageStat.objects.get(tenant_id=tenant_a.pk)


def test_the_dashboard_shows_a_tiny_cost_with_its_digits_and_keeps_the_exact_figure(
    client_a, tenant_a, tiny_cost_row
):
    page = client_a.get(reverse("screens:usage", args=[tenant_a.pk])).content.decode()
    summary = re.search(r'id="period-summary">(.*?)</p>', page, re.S).group(1)
    assert "known cost <strong>$0.00000045</strong>" in summary
    cells = re.findall(r'data-field="cost_usd" data-value="([^"]*)">([^<]*)<', page)
    assert cells and all(shown == "$0.00000045" for _, shown in cells)
    assert all(Decimal(exact) == TINY for exact, _ in cells)
    assert "$0.0000<" not in page and "$0.000000<" not in page


def test_the_usage_row_list_shows_a_tiny_cost_and_an_unknown_one(
    superuser, client, tenant_a, tiny_cost_row
):
    _track(tenant_a, None)  # deepseek-r1 via OpenRouter has a price: make one with none
    ModelUsageStat.objects.exclude(pk=tiny_cost_row.pk).update(cost_pusd=None)
    client.force_login(superuser)
    page = client.get("/admin/usage/modelusagestat/").content.decode()
    assert "$0.00000045 (provider)" in page
    assert re.search(r">\s*unknown\s*<", page)
