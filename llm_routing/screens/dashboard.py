"""The usage dashboard: one tenant's, or every tenant's for a superuser."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from llm_routing.screens.common import render_screen, tenant_for


@require_GET
def tenant_usage(request: HttpRequest, tenant_id) -> HttpResponse:
    tenant = tenant_for(request, tenant_id)
    return render_screen(
        request,
        "admin/screens/usage.html",
        title=f"Usage: {tenant.name}",
        tenant=tenant,
        active="screens:usage",
    )


@require_GET
def all_tenants_usage(request: HttpRequest) -> HttpResponse:
    if not request.user.is_superuser:
        raise PermissionDenied
    return render_screen(request, "admin/screens/usage.html", title="Usage across all tenants")
