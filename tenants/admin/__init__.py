"""Admin for tenants, their provider keys and config, memberships and tenant API keys.

Non-superuser staff see and change only the tenants they are members of: every admin
here narrows its queryset through ``tenants.selectors``, so another tenant's change URL
behaves exactly like one that does not exist.
"""

from tenants.admin import api_keys, tenant  # noqa: F401  (registers the admins)
