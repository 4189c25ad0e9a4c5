"""Who may do what with a tenant: the one permission model of the admin, screens and API.

Every admin page, operator screen and JSON endpoint asks ``can(principal, action, tenant)``
(or ``require``, which raises ``PermissionDenied``). Nothing else decides; Django's model
permissions on the tenants models are not consulted (the admin's ``has_*_permission``
methods are derived from this module).

- A superuser (active, staff) may do everything, on every tenant.
- A staff user acts on a tenant with the role of their ``TenantMembership``: viewer,
  operator or owner (``ROLE_ACTIONS``). No membership, no access: the tenant is a 404 to
  them (``tenants.selectors``), not a 403.
- A tenant API key acts on its own tenant only, with the fixed role ``API_KEY_ROLE``
  (operator); a revoked key, or another tenant's key, may do nothing.
- Adding and deleting tenants, deleting API keys, the usage across all tenants and the
  process-wide ledger counters belong to superusers alone (``is_superuser``).

A user's roles are read once per user object and kept on it, as Django's ModelBackend
keeps its permission cache: a request sees the roles as they were when it started.
"""

from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    OWNER = "owner", "Owner"


ROLE_HELP = (
    "Viewer: sees the tenant, its keys' status, config, members, API keys and usage. "
    "Operator: also changes the config and provider keys, tests keys, manages API keys "
    "and sets budgets. "
    "Owner: also manages the staff members of the tenant and their roles, and the budget "
    "alert webhook."
)


class Action(StrEnum):
    VIEW_TENANT = "view_tenant"  # the tenant, its key status, config, members, API key list
    VIEW_USAGE = "view_usage"  # its usage dashboard and usage rows
    CHANGE_CONFIG = "change_config"  # inference config and the tenant's own fields
    CHANGE_KEYS = "change_keys"  # save and remove provider keys
    TEST_KEYS = "test_keys"  # test a typed or the stored provider key
    MANAGE_API_KEYS = "manage_api_keys"  # create, rename and revoke tenant API keys
    MANAGE_MEMBERS = "manage_members"  # add and remove members, set their roles
    # Budgets go with the provider settings (issue 12): whoever may change the keys.
    MANAGE_BUDGETS = "manage_budgets"  # add, change and remove the tenant's budgets
    # Where alerts are POSTed leaves the platform: owners only, like membership.
    MANAGE_ALERT_WEBHOOK = "manage_alert_webhook"  # set the budget alert webhook


_VIEWER = frozenset({Action.VIEW_TENANT, Action.VIEW_USAGE})
_OPERATOR = _VIEWER | {
    Action.CHANGE_CONFIG,
    Action.CHANGE_KEYS,
    Action.TEST_KEYS,
    Action.MANAGE_API_KEYS,
    Action.MANAGE_BUDGETS,
}
ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.VIEWER: _VIEWER,
    Role.OPERATOR: _OPERATOR,
    Role.OWNER: _OPERATOR | {Action.MANAGE_MEMBERS, Action.MANAGE_ALERT_WEBHOOK},
}
# What a membership without an explicit role is: what every membership allowed before
# roles existed (the migration gives existing rows this role too).
DEFAULT_ROLE = Role.OPERATOR
API_KEY_ROLE = Role.OPERATOR

_ROLES_CACHE = "_tenant_roles_cache"


def roles_with(action: Action) -> list[str]:
    """The roles that grant ``action`` (for filtering memberships in a query)."""
    return [role for role, actions in ROLE_ACTIONS.items() if action in actions]


def _is_api_key(principal) -> bool:
    from tenants.models import TenantAPIKey

    return isinstance(principal, TenantAPIKey)


def is_superuser(principal) -> bool:
    """An active staff superuser: the platform's operators, who may do everything."""
    return bool(
        not _is_api_key(principal)
        and getattr(principal, "is_authenticated", False)
        and principal.is_active
        and principal.is_staff
        and principal.is_superuser
    )


def _is_staff(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_staff)


def user_roles(user) -> dict[str, str]:
    """tenant id (as text) -> role, for a staff user's memberships; {} for anyone else."""
    if not _is_staff(user) or _is_api_key(user):
        return {}
    cached = getattr(user, _ROLES_CACHE, None)
    if cached is None:
        from tenants.models import TenantMembership

        cached = {
            str(tenant_id): role
            for tenant_id, role in TenantMembership.objects.filter(user=user).values_list(
                "tenant_id", "role"
            )
        }
        setattr(user, _ROLES_CACHE, cached)
    return cached


def role_of(principal, tenant) -> str | None:
    """The role ``principal`` holds on ``tenant`` (a Tenant or its id); None: no access.
    Superusers hold the owner role everywhere."""
    tenant_id = str(getattr(tenant, "pk", tenant))
    if is_superuser(principal):
        return Role.OWNER
    if _is_api_key(principal):
        usable = principal.is_active and str(principal.tenant_id) == tenant_id
        return API_KEY_ROLE if usable else None
    return user_roles(principal).get(tenant_id)


def can(principal, action: Action, tenant=None) -> bool:
    """May ``principal`` (a user, an anonymous user or a TenantAPIKey) do ``action``?

    With ``tenant`` (a Tenant or its id): on that tenant. Without: on at least one tenant
    (what the admin asks for its lists and its "add" buttons before an object is chosen).
    """
    if is_superuser(principal):
        return True
    if tenant is not None:
        role = role_of(principal, tenant)
        return role is not None and action in ROLE_ACTIONS[role]
    if _is_api_key(principal):
        return principal.is_active and action in ROLE_ACTIONS[API_KEY_ROLE]
    return any(action in ROLE_ACTIONS[role] for role in user_roles(principal).values())


def require(principal, action: Action, tenant=None) -> None:
    """``can`` or ``PermissionDenied`` (a 403: the tenant itself is visible to them)."""
    if not can(principal, action, tenant):
        raise PermissionDenied(f"Your role does not allow this ({action}).")


def allowed_actions(principal, tenant) -> dict[str, bool]:
    """action name -> allowed, for templates (``{% if allowed.change_keys %}``)."""
    return {action.value: can(principal, action, tenant) for action in Action}


def principal_id(principal) -> str:
    """A stable name for throttling and logs: ``user:<id>`` or ``apikey:<id>``."""
    return f"{'apikey' if _is_api_key(principal) else 'user'}:{principal.pk}"
