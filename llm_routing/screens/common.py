"""What every operator screen shares: the admin chrome and the tenant scope."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from tenants import permissions, selectors
from tenants.models import Tenant
from tenants.permissions import Action

# (url name, tab label): the three screens of one tenant, in the order the tabs show them.
TENANT_SCREENS = (
    ("screens:keys", "Provider keys"),
    ("screens:providers", "Providers and models"),
    ("screens:usage", "Usage"),
)


def tenant_for(request: HttpRequest, tenant_id, action: Action = Action.VIEW_TENANT) -> Tenant:
    """The tenant, if the requesting user may do ``action`` on it.

    An id the user is no member of (or that does not exist) is a 404; a tenant they see
    but whose role does not allow ``action`` is a 403 (``PermissionDenied``).
    """
    tenant = selectors.get_tenant_for_user(request.user, tenant_id)
    permissions.require(request.user, action, tenant)
    return tenant


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
        # What the user's role allows on this tenant, so pages offer only what will work.
        "allowed": permissions.allowed_actions(request.user, tenant) if tenant else {},
        "tenant_screens": TENANT_SCREENS,
        "active_screen": active,
        **(context or {}),
    }
    return TemplateResponse(request, template, data, status=status)
