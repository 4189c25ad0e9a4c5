"""Admin for tenants, their provider keys and config, memberships and tenant API keys.

Non-superuser staff see only the tenants they are members of: every admin here narrows
its queryset through ``tenants.selectors``, so another tenant's change URL behaves exactly
like one that does not exist. What they may do there is their membership's role: the
``has_*_permission`` answers come from ``tenants.permissions`` (``RolePermissionsMixin``).
"""

from tenants.admin import alert_webhook, api_keys, tenant  # noqa: F401  (registers the admins)
