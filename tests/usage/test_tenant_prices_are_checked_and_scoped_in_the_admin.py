"""Issue 12: a tenant's own prices in the admin. Set by the people who may change the
tenant's provider settings, for their tenants only; a bad price (negative, absurdly high,
an unknown provider) is a form error and saves nothing. (Who may open which page is in
tests/tenants/test_every_url_and_action_allows_exactly_the_roles_that_may.py.)"""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from tenants.models import TenantMembership
from tenants.permissions import Role
from usage.models import Price, TenantPrice

ADD = reverse("admin:usage_tenantprice_add")


@pytest.fixture
def operator(db, make_tenant):
    """A staff user, operator of one tenant and viewer of another."""
    user = User.objects.create_user("op", password="x", is_staff=True)
    runs, watches = make_tenant("runs"), make_tenant("watches")
    TenantMembership.objects.create(tenant=runs, user=user, role=Role.OPERATOR)
    TenantMembership.objects.create(tenant=watches, user=user, role=Role.VIEWER)
    return user, runs, watches


def _form(tenant, **changes) -> dict:
    return {
        "tenant": str(tenant.pk), "provider": "groq", "model": "llama-3.3-70b-versatile",
        "input_per_million": "0.40", "output_per_million": "0.60",
        "cached_input_per_million": "0.10", "reasoning_per_million": "",
        "effective_from_0": "2025-07-01", "effective_from_1": "00:00:00", "note": "deal",
        **changes,
    }


def test_an_operator_sets_a_price_for_the_tenant_they_run_only(client, operator):
    user, runs, watches = operator
    client.force_login(user)
    page = client.get(ADD)
    choices = {str(pk) for pk in page.context["adminform"].form.fields["tenant"].queryset
               .values_list("pk", flat=True)}
    assert choices == {str(runs.pk)}
    assert client.post(ADD, _form(runs)).status_code == 302
    price = TenantPrice.objects.get()
    assert (price.tenant, price.cached_input_per_million, price.reasoning_per_million) == (
        runs, Decimal("0.1"), None)
    refused = client.post(ADD, _form(watches, model="other"))
    assert refused.status_code == 200 and "tenant" in refused.context["adminform"].form.errors
    assert TenantPrice.objects.count() == 1


@pytest.mark.parametrize("changes, field", [
    ({"input_per_million": "-0.01"}, "input_per_million"),
    ({"output_per_million": "100000.01"}, "output_per_million"),
    ({"cached_input_per_million": "-1"}, "cached_input_per_million"),
    ({"reasoning_per_million": "1e9"}, "reasoning_per_million"),
    ({"input_per_million": "NaN"}, "input_per_million"),
    ({"provider": "openai-direct"}, "provider"),
    ({"model": "   "}, "model"),
    ({"effective_from_0": "2025-02-30"}, "effective_from"),
])
def test_a_bad_tenant_price_is_a_form_error_and_saves_nothing(
    client, operator, changes, field
):
    user, runs, _ = operator
    client.force_login(user)
    page = client.post(ADD, _form(runs, **changes))
    assert page.status_code == 200 and field in page.context["adminform"].form.errors
    assert not TenantPrice.objects.exists()


def test_a_second_price_for_the_same_start_is_refused(client, operator):
    user, runs, _ = operator
    client.force_login(user)
    assert client.post(ADD, _form(runs)).status_code == 302
    again = client.post(ADD, _form(runs, input_per_million="0.30"))
    assert again.status_code == 200 and again.context["adminform"].form.errors
    assert TenantPrice.objects.get().input_per_million == Decimal("0.4")


def test_a_price_saved_by_someone_else_meanwhile_is_a_message_not_a_500(
    client, operator, monkeypatch
):
    """The same race as for budgets, through the same admin mechanism
    (TenantScopedAdmin): the form's uniqueness check is made to miss the price another
    operator saved just before, and the database's constraint refuses this one."""
    user, runs, _ = operator
    client.force_login(user)
    assert client.post(ADD, _form(runs)).status_code == 302
    monkeypatch.setattr(TenantPrice, "validate_constraints", lambda self, exclude=None: None)
    monkeypatch.setattr(TenantPrice, "validate_unique", lambda self, exclude=None: None)
    again = client.post(ADD, _form(runs, input_per_million="0.30"), follow=True)
    assert again.status_code == 200 and b"Nothing was saved" in again.content
    assert TenantPrice.objects.get().input_per_million == Decimal("0.4")


def test_a_list_price_above_the_ceiling_is_a_form_error(admin_client):
    before = Price.objects.count()
    page = admin_client.post(reverse("admin:usage_price_add"), {
        "provider": "groq", "model": "m", "input_per_million": "1",
        "output_per_million": "1", "reasoning_per_million": "250000",
        "effective_from_0": "2025-01-01", "effective_from_1": "00:00:00", "source": "",
    })
    assert "reasoning_per_million" in page.context["adminform"].form.errors
    assert Price.objects.count() == before
