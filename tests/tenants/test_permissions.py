import pytest
from django.contrib.auth.models import Group

from tenants.permissions import GROUP_NAME, PERMISSIONS, ensure_tenant_admin_group

pytestmark = pytest.mark.django_db


def test_migrate_leaves_a_tenant_administrators_group_with_its_permissions():
    group = Group.objects.get(name=GROUP_NAME)
    assert set(group.permissions.values_list("codename", flat=True)) == set(PERMISSIONS)


def test_the_group_grants_no_tenant_creation_or_deletion(staff_a):
    assert staff_a.has_perm("tenants.change_tenant")
    assert staff_a.has_perm("tenants.add_tenantapikey")
    assert not staff_a.has_perm("tenants.add_tenant")
    assert not staff_a.has_perm("tenants.delete_tenant")
    assert not staff_a.has_perm("tenants.change_tenantmembership")


def test_ensuring_the_group_twice_changes_nothing():
    first = ensure_tenant_admin_group()
    second = ensure_tenant_admin_group()
    assert first.pk == second.pk
    assert second.permissions.count() == len(PERMISSIONS)
