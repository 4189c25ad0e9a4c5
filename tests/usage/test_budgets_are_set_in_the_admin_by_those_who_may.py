"""Issue 12: who may set a budget is who may change the tenant's provider settings
(operators, owners, superusers); viewers see budgets read-only; another tenant's budget
or alert is a 404; bad input is a form error that saves nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from tenants.models import Tenant, TenantMembership
from tenants.permissions import Role
from usage.models import Budget, BudgetAlert, BudgetWindow

pytestmark = pytest.mark.django_db

ADD = "/admin/usage/budget/add/"


def change_url(budget) -> str:
    return f"/admin/usage/budget/{budget.pk}/change/"


@pytest.fixture
def tenants(db):
    return (
        Tenant.objects.create(name="Alpha", slug="alpha"),
        Tenant.objects.create(name="Bravo", slug="bravo"),
    )


@pytest.fixture
def member(django_user_model, tenants):
    def make(role: str) -> Client:
        user = django_user_model.objects.create_user(
            f"user-{role}", password="x", is_staff=True
        )
        TenantMembership.objects.create(tenant=tenants[0], user=user, role=role)
        client = Client()
        client.force_login(user)
        return client

    return make


def form(tenant, **overrides) -> dict:
    return {
        "tenant": str(tenant.pk), "period": "month", "limit_usd": "25.50", "mode": "hard",
        "alert_thresholds": "50,80,100", **overrides,
    }


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.OWNER])
def test_operators_and_owners_set_their_tenants_budgets(member, tenants, role):
    client = member(role)
    answer = client.post(ADD, form(tenants[0], alert_thresholds=" 100, 50 ,80"))
    assert answer.status_code == 302, answer.content[:2000]
    budget = Budget.objects.get()
    assert (budget.tenant, budget.limit_usd, budget.alert_thresholds) == (
        tenants[0], Decimal("25.50"), "50,80,100"
    )
    answer = client.post(change_url(budget), {**form(tenants[0]), "limit_usd": "30"})
    assert answer.status_code == 302
    assert Budget.objects.get().limit_usd == Decimal(30)


def test_a_viewer_sees_budgets_but_cannot_set_them(member, tenants):
    client = member(Role.VIEWER)
    budget = Budget.objects.create(tenant=tenants[0], period="day", limit_usd=5)
    assert client.get("/admin/usage/budget/").status_code == 200
    assert client.post(ADD, form(tenants[0])).status_code == 403
    page = client.get(change_url(budget))
    assert page.status_code == 200 and b'name="limit_usd"' not in page.content
    assert client.post(change_url(budget), form(tenants[0], limit_usd="999")).status_code == 403
    assert Budget.objects.get().limit_usd == 5
    assert Budget.objects.count() == 1


def test_another_tenants_budget_and_alert_are_404(member, tenants):
    client = member(Role.OWNER)
    theirs = Budget.objects.create(tenant=tenants[1], period="day", limit_usd=5)
    now = timezone.now()
    window = BudgetWindow.objects.create(
        tenant=tenants[1], period="day", starts_at=now, ends_at=now
    )
    alert = BudgetAlert.objects.create(
        window=window, tenant=tenants[1], threshold=50, fired_at=now, spent_pusd=1,
        limit_pusd=2, mode="hard",
    )
    for url in (change_url(theirs), f"/admin/usage/budget/{theirs.pk}/delete/",
                f"/admin/usage/budgetalert/{alert.pk}/change/"):
        assert client.get(url).status_code == 404, url
    assert client.post(change_url(theirs), form(tenants[1], limit_usd="1")).status_code == 404
    # Nor can a budget be added for it: it is not a choice.
    answer = client.post(ADD, form(tenants[1]))
    assert answer.status_code == 200 and b"Select a valid choice" in answer.content
    listing = client.get("/admin/usage/budget/").content.decode()
    assert "Bravo" not in listing
    assert Budget.objects.get(pk=theirs.pk).limit_usd == 5
    assert Budget.objects.count() == 1


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("limit_usd", "-1", "greater than or equal to 0"),
        ("limit_usd", "abc", "Enter a number"),
        ("limit_usd", "1e400", "no more than 14 digits"),
        ("limit_usd", "2000000", "less than or equal to 1000000"),
        ("alert_thresholds", "abc", "Each threshold is a whole percent from 1 to 1000"),
        ("alert_thresholds", "0", "Each threshold is a whole percent from 1 to 1000"),
        ("alert_thresholds", "50,-1", "Each threshold is a whole percent from 1 to 1000"),
        ("alert_thresholds", ",", "Give at least one threshold"),
        ("period", "week", "Select a valid choice"),
        ("mode", "maybe", "Select a valid choice"),
    ],
)
def test_bad_input_is_a_form_error_and_saves_nothing(member, tenants, field, value, message):
    client = member(Role.OPERATOR)
    answer = client.post(ADD, form(tenants[0], **{field: value}))
    assert answer.status_code == 200
    assert message in answer.content.decode()
    assert not Budget.objects.exists()


def test_a_second_budget_for_a_period_is_a_form_error_on_add_and_on_change(member, tenants):
    client = member(Role.OPERATOR)
    Budget.objects.create(tenant=tenants[0], period="month", limit_usd=5)
    daily = Budget.objects.create(tenant=tenants[0], period="day", limit_usd=1)
    answer = client.post(ADD, form(tenants[0]))
    assert answer.status_code == 200 and b"already exists" in answer.content
    answer = client.post(change_url(daily), form(tenants[0], period="month"))
    assert answer.status_code == 200
    assert b"already has a budget for this period" in answer.content
    assert sorted(Budget.objects.values_list("period", "limit_usd")) == [
        ("day", Decimal(1)), ("month", Decimal(5))
    ]


def test_members_see_their_alert_history_in_the_admin(member, tenants):
    client = member(Role.VIEWER)
    now = timezone.now()
    window = BudgetWindow.objects.create(
        tenant=tenants[0], period="month", starts_at=now, ends_at=now
    )
    BudgetAlert.objects.create(
        window=window, tenant=tenants[0], threshold=80, fired_at=now,
        spent_pusd=8 * 10**12, limit_pusd=10 * 10**12, mode="soft",
        webhook_error="the receiver answered HTTP 500",
    )
    page = client.get("/admin/usage/budgetalert/").content.decode()
    assert "80%" in page and "$8.00 of $10.00" in page
    assert "the receiver answered HTTP 500" in page


def test_the_usage_screens_link_lists_the_tenants_budgets(member, tenants, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="x")
    client = Client()
    client.force_login(root)
    Budget.objects.create(tenant=tenants[0], period="day", limit_usd=3)
    Budget.objects.create(tenant=tenants[1], period="day", limit_usd=4)
    page = client.get(f"/admin/usage/budget/?tenant__id__exact={tenants[0].pk}")
    assert page.status_code == 200
    assert "$3.00" in page.content.decode() and "$4.00" not in page.content.decode()


def test_a_budget_saved_by_someone_else_meanwhile_is_a_message_not_a_500(
    member, tenants, monkeypatch
):
    """Two admins add the same tenant's monthly budget at the same instant: the form's
    check passes for both, the database's unique constraint refuses the second. Here the
    other admin's budget is saved first and the form's check is made to miss it, as it
    would when it ran just before that save."""
    from usage.budget_admin import BudgetForm

    Budget.objects.create(tenant=tenants[0], period="month", limit_usd=7)
    monkeypatch.setattr(BudgetForm, "validate_unique", lambda self: None)
    monkeypatch.setattr(Budget, "validate_constraints", lambda self, exclude=None: None)
    client = member(Role.OWNER)
    answer = client.post(ADD, form(tenants[0]), follow=True)
    assert answer.status_code == 200
    assert b"Nothing was saved" in answer.content
    assert list(Budget.objects.values_list("limit_usd", flat=True)) == [Decimal(7)]
