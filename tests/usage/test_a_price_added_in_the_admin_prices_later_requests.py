"""Issue 3: the price table is editable in the admin. A price added there (with its
effective date) prices requests from that date on; earlier requests keep the old price,
and a model the table does not know stays unknown."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from usage.models import Price
from usage.pricing import cost_for

pytestmark = pytest.mark.django_db

MODEL = "audit/priced-in-the-admin"


def _add_price(admin_client, *, input_per_million, output_per_million, effective):
    response = admin_client.post(reverse("admin:usage_price_add"), {
        "provider": "groq", "model": MODEL,
        "input_per_million": input_per_million, "output_per_million": output_per_million,
        "effective_from_0": effective, "effective_from_1": "00:00:00", "source": "audit",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors


def _cost(at):
    return cost_for(provider="groq", model=MODEL, prompt_tokens=1_000_000,
                    completion_tokens=2_000_000, at=at)


def test_a_price_added_in_the_admin_prices_requests_from_its_date(admin_client):
    assert _cost(datetime(2025, 3, 1, tzinfo=UTC)) == (None, "unknown")

    _add_price(admin_client, input_per_million="1.00", output_per_million="2.00",
               effective="2025-01-01")
    _add_price(admin_client, input_per_million="0.50", output_per_million="0.25",
               effective="2025-06-01")
    assert Price.objects.filter(model=MODEL).count() == 2

    assert _cost(datetime(2024, 12, 31, tzinfo=UTC)) == (None, "unknown")
    assert _cost(datetime(2025, 3, 1, tzinfo=UTC)) == (Decimal("5"), "price_table")
    assert _cost(datetime(2025, 7, 1, tzinfo=UTC)) == (Decimal("1"), "price_table")


def test_changing_a_price_in_the_admin_changes_later_costs(admin_client):
    _add_price(admin_client, input_per_million="1.00", output_per_million="2.00",
               effective="2025-01-01")
    price = Price.objects.get(model=MODEL)
    at = datetime(2025, 3, 1, tzinfo=UTC)
    assert _cost(at) == (Decimal("5"), "price_table")
    response = admin_client.post(reverse("admin:usage_price_change", args=[price.pk]), {
        "provider": "groq", "model": MODEL, "input_per_million": "3.00",
        "output_per_million": "2.00", "effective_from_0": "2025-01-01",
        "effective_from_1": "00:00:00", "source": "audit",
    })
    assert response.status_code == 302
    assert _cost(at) == (Decimal("7"), "price_table")
