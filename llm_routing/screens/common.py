"""What every operator screen shares: the admin chrome and the tenant scope."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from tenants import selectors
from tenants.models import Tenant

# (url name, tab label): the three screens of one tenant, in the order the tabs show them.
TENANT_SCREENS = (
    ("screens:keys", "Provider keys"),
    ("screens:providers", "Providers and models"),
    ("screens:usage", "Usage"),
)


def tenant_for(request: HttpRequest, tenant_id) -> Tenant:
    """The tenant the requesting user may administer; 404 for any other id."""
    return selectors.get_tenant_for_user(request.user, tenant_id)


def render_screen(
    request: HttpRequest,
    template: str,
    *,
    title: str,
    tenant: Tenant | None = None,
    active: str = "",
    context: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render ``template`` with the admin's own context (site header, nav, theme toggle)."""
    data = {
        **admin.site.each_context(request),
        "title": title,
        "tenant": tenant,
        "tenant_screens": TENANT_SCREENS,
        "active_screen": active,
        **(context or {}),
    }
    return TemplateResponse(request, template, data, status=status)
