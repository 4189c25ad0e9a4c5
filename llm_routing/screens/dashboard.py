"""The usage dashboard: one tenant's, or every tenant's for a superuser."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

import llm_routing
import usage
from llm_routing import clock, providers
from llm_routing.screens.common import render_screen, tenant_for
from llm_routing.screens.dashboard_data import dashboard_figures
from llm_routing.screens.periods import PeriodForm, period_from
from tenants import permissions, selectors
from tenants.models import TenantMembership
from tenants.permissions import Action
from usage import selectors as usage_selectors


def _period(request: HttpRequest, tz: zoneinfo.ZoneInfo):
    form = PeriodForm(request.GET or {"period": "24h"})
    return form, period_from(form, tz=tz, now=timezone.now())


def _when(value) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    return parse_datetime(value) if isinstance(value, str) and value else None


def _rate_limits(tenant) -> list[dict]:
    """Routing's view of each provider for the tenant: quota use, cooldown, last 429."""
    rows = []
    for name, s in llm_routing.provider_status(tenant=tenant).items():
        quota = s.get("quota_requests")
        used = s.get("requests_today") or 0
        rows.append(
            {
                "label": providers.get_provider(name).label,
                "requests_today": used,
                "quota_requests": quota,
                "tokens_today": s.get("tokens_today") or 0,
                "quota_tokens": s.get("quota_tokens"),
                "used_percent": round(100 * used / quota, 1) if quota else None,
                "threshold_percent": round(100 * (s.get("threshold") or 0), 1),
                "cooldown_until": _when(s.get("cooldown_until")),
                "last_429_at": _when(s.get("last_429_at")),
                "skipped_reason": s.get("skipped_reason"),
            }
        )
    return rows


def _ledger_health() -> dict:
    stats = usage.tracker_stats()
    return {**stats, "last_flush_at": _when(stats.get("last_flush_at"))}


def _budgets(request: HttpRequest, tenant) -> dict:
    """The tenant's budgets in their current windows (routing's clock decides which), the
    alert history, and the requesting member's own alert-email choice."""
    if tenant is None:
        return {"budgets": None}
    return {
        "budgets": usage_selectors.budget_status(tenant, clock.now()),
        "alert_history": usage_selectors.budget_alert_history(tenant),
        "can_manage_budgets": permissions.can(request.user, Action.MANAGE_BUDGETS, tenant),
        "my_membership": TenantMembership.objects.filter(
            tenant=tenant, user_id=request.user.pk
        ).first(),
    }


def _render(request, *, tenant, tenants, tz, title, by_tenant=False):
    form, period = _period(request, tz)
    return render_screen(
        request,
        "admin/screens/usage.html",
        title=title,
        tenant=tenant,
        active="screens:usage",
        context={
            "form": form,
            "period": period,
            "tz_name": tz.key,
            "figures": dashboard_figures(tenants=tenants, period=period, by_tenant=by_tenant),
            # The period, carried into the links to each tenant's dashboard.
            "query": urlencode(
                [(k, request.GET[k]) for k in ("period", "start", "end") if k in request.GET]
            ),
            "rate_limits": _rate_limits(tenant) if tenant is not None else None,
            # This process's writer counts every tenant's records: superusers only.
            "ledger": _ledger_health() if permissions.is_superuser(request.user) else None,
            **_budgets(request, tenant),
        },
    )


@require_GET
def tenant_usage(request: HttpRequest, tenant_id) -> HttpResponse:
    tenant = tenant_for(request, tenant_id, Action.VIEW_USAGE)
    return _render(
        request,
        tenant=tenant,
        tenants=tenant,
        tz=zoneinfo.ZoneInfo(tenant.timezone),
        title=f"Usage: {tenant.name}",
    )


@require_GET
def all_tenants_usage(request: HttpRequest) -> HttpResponse:
    if not permissions.is_superuser(request.user):
        raise Http404("No such page.")
    # One clock for everyone: tenants' local days differ, so across tenants the days and
    # hours are UTC's (the page says so; each tenant's own dashboard keeps its zone). UTC
    # days are also what the summary keeps day rows for, which keeps this view fast.
    return _render(
        request,
        tenant=None,
        tenants=list(selectors.tenants_for_user(request.user)),
        tz=zoneinfo.ZoneInfo("UTC"),
        title="Usage across all tenants",
        by_tenant=True,
    )


@require_POST
def budget_alert_email(request: HttpRequest, tenant_id) -> HttpResponse:
    """A member turns budget alert emails on or off for themselves (owners can also set it
    for anyone on the tenant's page). A tenant they cannot see is a 404; a superuser who is
    no member has no membership to set (the page says so)."""
    tenant = tenant_for(request, tenant_id, Action.VIEW_USAGE)
    wanted = request.POST.get("budget_alerts") == "on"
    changed = TenantMembership.objects.filter(tenant=tenant, user_id=request.user.pk).update(
        budget_alerts=wanted
    )
    if not changed:
        messages.warning(request, "Alert emails go to the tenant's members; you are not one.")
    elif wanted:
        messages.success(request, "You will get budget alert emails.")
    else:
        messages.success(request, "You will get no budget alert emails.")
    return HttpResponseRedirect(reverse("screens:usage", args=[tenant.pk]) + "#budgets")
