"""The "Tenant administrators" group: the model permissions a non-superuser staff user needs.

Membership (TenantMembership) decides *which* tenants such a user sees; this group decides
*what* they may do with them: view and change tenants (config and provider keys), view
memberships, and create and revoke API keys. Adding tenants, deleting them and managing
memberships stay with superusers. Kept in sync after every ``migrate``.
"""

from django.contrib.auth.models import Group, Permission

GROUP_NAME = "Tenant administrators"
PERMISSIONS = (
    "view_tenant",
    "change_tenant",
    "view_tenantmembership",
    "view_tenantapikey",
    "add_tenantapikey",
    "change_tenantapikey",
)


def ensure_tenant_admin_group(**kwargs) -> Group:
    group, _ = Group.objects.get_or_create(name=GROUP_NAME)
    permissions = Permission.objects.filter(
        content_type__app_label="tenants", codename__in=PERMISSIONS
    )
    group.permissions.add(*permissions)
    return group
