"""Reads of tenant data, always scoped to who is asking.

Every view, admin page and API endpoint that takes a tenant id goes through
``get_tenant_for_user`` or ``get_tenant_for_api_key``: another tenant's id is a 404, the
same answer as an id that does not exist. Which tenants a user sees, and what they may do
with each, is decided by ``tenants.permissions`` (roles on memberships).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404

from tenants import permissions
from tenants.models import Tenant, TenantAPIKey, parse_tenant_id
from tenants.permissions import Action


def tenants_for_user(user: Any, action: Action = Action.VIEW_TENANT) -> QuerySet[Tenant]:
    """The tenants on which ``user`` may do ``action`` (by default: see them at all)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active or not user.is_staff:
        return Tenant.objects.none()
    if permissions.is_superuser(user):
        return Tenant.objects.all()
    return Tenant.objects.filter(
        memberships__user=user, memberships__role__in=permissions.roles_with(action)
    )


def get_tenant_for_user(user: Any, tenant_id: Any) -> Tenant:
    try:
        return tenants_for_user(user).get(pk=tenant_id)
    except (Tenant.DoesNotExist, ValidationError, ValueError, TypeError):
        raise Http404("No such tenant.") from None


def get_tenant_for_api_key(api_key: TenantAPIKey, tenant_id: object) -> Tenant:
    if str(api_key.tenant_id) != str(tenant_id):
        raise Http404("No such tenant.")
    return api_key.tenant


def resolve_tenant(tenant: object) -> Tenant:
    """A Tenant from a Tenant, its id or its slug (for internal callers such as the router).

    Anything that reads as a UUID is an id and is looked up by primary key only: a slug
    can never stand in for another tenant's id (and slugs that read as UUIDs are refused).
    Raises Tenant.DoesNotExist.
    """
    if isinstance(tenant, Tenant):
        return tenant
    found = None
    if (pk := parse_tenant_id(tenant)) is not None:
        found = Tenant.objects.filter(pk=pk).first()
    elif isinstance(tenant, str):
        found = Tenant.objects.filter(slug=tenant).first()
    if found is None:
        raise Tenant.DoesNotExist(f"No tenant with id or slug {str(tenant)[:100]!r}.")
    return found
