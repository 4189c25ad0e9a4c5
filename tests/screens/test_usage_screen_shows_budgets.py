"""Issue 12: the usage screen shows each budget's use, what is reserved, the projection to
the window's end, the estimated part, refusals and the alert history; a banner on the
tenant's screens and the admin index names an alert fired in an open window; a member
turns their own alert emails on and off."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from tenants import services
from tenants.models import TenantMembership
from tests.canaries import assert_no_trace
from usage.budgets import window_bounds
from usage.models import Budget, BudgetAlert, BudgetHold, BudgetWindow

pytestmark = pytest.mark.django_db

USD = 10**12
# 10 days into November 2026 in Paris: the month's window runs 2026-10-31 23:00 UTC to
# 2026-11-30 23:00 UTC, a third of it has passed.
NOW = dt.datetime(2026, 11, 10, 23, tzinfo=dt.UTC)


def _cell(page: str, budget: str, field: str) -> str:
    row = re.search(rf'<tr data-budget="{budget}">(.*?)</tr>', page, re.S).group(1)
    cell = re.search(rf'data-field="{field}"[^>]*>(.*?)</td>', row, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", cell).split())


def _banner(page: str) -> str:
    found = re.search(r'id="budget-alert-banner"(.*?)</ul>', page, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", found).split())


def _window(tenant, period, at, **figures) -> BudgetWindow:
    starts_at, ends_at = window_bounds(period, tenant.timezone, at)
    return BudgetWindow.objects.create(
        tenant=tenant, period=period, starts_at=starts_at, ends_at=ends_at, **figures
    )


def _alert(window, threshold, spent) -> BudgetAlert:
    return BudgetAlert.objects.create(
        window=window, tenant_id=window.tenant_id, threshold=threshold, fired_at=timezone.now(),
        spent_pusd=spent, limit_pusd=10 * USD, mode="hard",
    )


def test_the_usage_screen_shows_each_budgets_figures(
    client_a, tenant_a, tenant_b, routing_clock, canary_keys
):
    services.tenant_set_tokens(tenant=tenant_a, tokens=canary_keys)
    routing_clock.set(NOW)
    Budget.objects.create(tenant=tenant_a, period="month", limit_usd=Decimal(10), mode="hard")
    Budget.objects.create(tenant=tenant_a, period="day", limit_usd=Decimal(2), mode="soft")
    Budget.objects.create(tenant=tenant_b, period="month", limit_usd=Decimal(777))
    month = _window(tenant_a, "month", NOW, spent_pusd=4 * USD, estimated_pusd=USD, refused=3)
    BudgetHold.objects.create(
        window=month, holder="live", amount_pusd=USD // 2, renewed_at=timezone.now()
    )
    BudgetHold.objects.create(  # a killed process's hold: no longer counts
        window=month, holder="dead", amount_pusd=7 * USD,
        renewed_at=timezone.now() - dt.timedelta(hours=2),
    )
    _alert(month, 50, 5 * USD)
    last_month = _window(tenant_a, "month", NOW - dt.timedelta(days=20), spent_pusd=9 * USD)
    _alert(last_month, 80, 8 * USD)

    page = client_a.get(f"/admin/screens/tenants/{tenant_a.pk}/usage/").content.decode()
    assert _cell(page, "month", "spent") == "$4.00 / $10.00 (40.0%)"
    assert _cell(page, "month", "reserved") == "$0.50"
    assert _cell(page, "month", "projected") == "$12.00 (120.0%)"  # 4 USD in a third
    assert _cell(page, "month", "estimated") == "$1.00"
    assert _cell(page, "month", "refused") == "3"
    assert _cell(page, "month", "alerts").startswith("50%")
    assert "2026-11-01 00:00 to 2026-12-01 00:00" in page  # Paris midnights
    assert _cell(page, "day", "spent") == "$0 / $2.00 (0.0%)"  # no window row yet
    assert "spent / time elapsed" in page  # the projection says how it is made
    history = re.search(r'id="table-budget-alerts">(.*?)</table>', page, re.S).group(1)
    assert history.count("<tr data-alert=") == 2
    assert "$777" not in page
    assert_no_trace(page, canary_keys.values())


def test_a_banner_names_an_alert_fired_in_an_open_window(
    client_a, staff_a, tenant_a, tenant_b, superuser, client
):
    now = timezone.now()
    Budget.objects.create(tenant=tenant_a, period="day", limit_usd=Decimal(10))
    _alert(_window(tenant_a, "day", now), 80, 8 * USD)
    _alert(_window(tenant_b, "day", now), 100, 10 * USD)
    _alert(_window(tenant_a, "day", now - dt.timedelta(days=3)), 100, 10 * USD)  # window over

    for url in (f"/admin/screens/tenants/{tenant_a.pk}/usage/",
                f"/admin/screens/tenants/{tenant_a.pk}/keys/", "/admin/"):
        page = client_a.get(url).content.decode()
        banner = _banner(page)
        assert "has reached 80%" in banner and "$8.00 of $10.00" in banner, url
        assert "100%" not in banner, url  # not the other tenant's, not a closed window's

    client.force_login(superuser)
    banner = _banner(client.get("/admin/").content.decode())
    assert "Alpha Ltd: the daily budget has reached 80%" in banner
    assert "Beta GmbH: the daily budget has reached 100%" in banner
    assert "New requests are refused" in banner


def test_no_banner_without_an_alert(client_a, tenant_a):
    assert b"budget-alert-banner" not in client_a.get("/admin/").content


def test_a_member_turns_their_own_alert_emails_on_and_off(
    client_a, staff_a, tenant_a, tenant_b, superuser
):
    url = f"/admin/screens/tenants/{tenant_a.pk}/usage/budget-alert-email"
    assert client_a.post(url, {"budget_alerts": "on"}).status_code == 302
    assert TenantMembership.objects.get(user=staff_a).budget_alerts is True
    assert client_a.post(url, {}).status_code == 302
    assert TenantMembership.objects.get(user=staff_a).budget_alerts is False
    other = f"/admin/screens/tenants/{tenant_b.pk}/usage/budget-alert-email"
    assert client_a.post(other, {"budget_alerts": "on"}).status_code == 404
    assert client_a.get(url).status_code == 405
    client_a.force_login(superuser)  # no member: nothing to set, and nothing set
    assert client_a.post(url, {"budget_alerts": "on"}).status_code == 302
    assert not TenantMembership.objects.filter(budget_alerts=True).exists()
