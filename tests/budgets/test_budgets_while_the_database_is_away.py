"""Budgets while routing's database is cut (a TCP proxy in front of PostgreSQL; the server
is never touched): a soft budget lets the answer through, even when the prices must be
reloaded just then (a raw database error would have turned the answer into a failure); a
hard budget cannot be checked, so its tenant's requests fail closed with a RoutingError,
nothing raw, and pass again once the database is back."""

from decimal import Decimal

import pytest
from django.db import connection

from llm_routing import BudgetExceeded, RoutingError, complete
from tests.llm_routing.test_routing_survives_its_database import db_proxy  # noqa: F401
from usage import budgets
from usage.models import Budget, BudgetWindow
from usage.pricing import price_book

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the fault is a TCP proxy cut in front of a database server (PostgreSQL only)",
    ),
]

HELLO = [{"role": "user", "content": "hello"}]


def ask(tenant):
    return complete(tenant=tenant.slug, messages=HELLO, max_tokens=8)


def test_a_soft_budget_lets_answers_through_while_prices_cannot_load(make_tenant, db_proxy):  # noqa: F811
    tenant = make_tenant(slug="soft-cut", preferred_provider="llm7")
    Budget.objects.create(tenant=tenant, period="month", limit_usd=Decimal(5), mode="soft")
    assert ask(tenant).provider == "llm7"  # the view and the prices are loaded
    db_proxy.cut()
    price_book.invalidate()  # the prices' cache ran out: reloading them meets the cut
    assert [ask(tenant).provider for _ in range(2)] == ["llm7"] * 2
    db_proxy.restore()
    budgets.flush()
    window = BudgetWindow.objects.get(tenant_id=tenant.pk, period="month")
    assert window.spent_pusd > 0 and window.refused == 0


def test_a_hard_budget_fails_closed_while_its_books_are_away(make_tenant, db_proxy):  # noqa: F811
    tenant = make_tenant(slug="hard-cut", preferred_provider="llm7")
    Budget.objects.create(tenant=tenant, period="month", limit_usd=Decimal(5), mode="hard")
    assert ask(tenant).provider == "llm7"
    db_proxy.cut()
    with pytest.raises(RoutingError) as refused:
        ask(tenant)
    assert not isinstance(refused.value, BudgetExceeded)
    assert "hard budget and its books cannot be read" in refused.value.reason
    db_proxy.restore()
    assert ask(tenant).provider == "llm7"  # back by itself once the database is
