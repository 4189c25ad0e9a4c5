"""The one permission model (tenants.permissions): roles, superusers, API keys, migration."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tenants import services
from tenants.models import TenantMembership
from tenants.permissions import Action, Role, can, require, roles_with

pytestmark = pytest.mark.django_db

A = Action
# Written out, not derived from ROLE_ACTIONS, so a change to the role table fails here.
EXPECTED = {
    Role.VIEWER: {A.VIEW_TENANT, A.VIEW_USAGE},
    Role.OPERATOR: {
        A.VIEW_TENANT, A.VIEW_USAGE, A.CHANGE_CONFIG, A.CHANGE_KEYS, A.TEST_KEYS,
        A.MANAGE_API_KEYS, A.MANAGE_BUDGETS,
    },
    Role.OWNER: set(Action),
}


@pytest.mark.parametrize("role", list(Role))
def test_each_role_allows_exactly_its_actions_on_its_tenant_and_none_on_another(
    staff_of, tenant_a, tenant_b, role
):
    user = staff_of(tenant_a, role=role)
    assert {a for a in Action if can(user, a, tenant_a)} == EXPECTED[role]
    assert {a for a in Action if can(user, a, tenant_a.pk)} == EXPECTED[role]
    assert not any(can(user, a, tenant_b) for a in Action)
    # Without a tenant: "on at least one".
    assert {a for a in Action if can(user, a)} == EXPECTED[role]


def test_a_denied_action_raises_permission_denied(staff_of, tenant_a):
    from django.core.exceptions import PermissionDenied

    viewer = staff_of(tenant_a, role=Role.VIEWER)
    require(viewer, A.VIEW_TENANT, tenant_a)
    with pytest.raises(PermissionDenied):
        require(viewer, A.CHANGE_KEYS, tenant_a)


def test_roles_with_an_action_are_the_roles_that_grant_it():
    assert set(roles_with(A.VIEW_TENANT)) == set(Role)
    assert set(roles_with(A.CHANGE_KEYS)) == {Role.OPERATOR, Role.OWNER}
    assert roles_with(A.MANAGE_MEMBERS) == [Role.OWNER]


def test_a_superuser_may_do_everything_on_every_tenant(django_user_model, tenant_a, tenant_b):
    root = django_user_model.objects.create_superuser("root", password="x")
    assert all(can(root, a, t) for a in Action for t in (tenant_a, tenant_b))


def test_a_member_who_is_not_active_staff_may_do_nothing(staff_of, tenant_a):
    user = staff_of(tenant_a, role=Role.OWNER)
    user.is_staff = False
    assert not any(can(user, a, tenant_a) for a in Action)
    user.is_staff, user.is_active = True, False
    assert not any(can(user, a, tenant_a) for a in Action)


def test_an_anonymous_user_may_do_nothing(tenant_a):
    from django.contrib.auth.models import AnonymousUser

    assert not any(can(AnonymousUser(), a, tenant_a) for a in Action)


def test_an_api_key_is_an_operator_of_its_own_tenant_only(tenant_a, tenant_b):
    key, _ = services.api_key_create(tenant=tenant_a, name="svc")
    assert {a for a in Action if can(key, a, tenant_a)} == EXPECTED[Role.OPERATOR]
    assert not any(can(key, a, tenant_b) for a in Action)
    services.api_key_revoke(key=key)
    assert not any(can(key, a, tenant_a) for a in Action)


def test_a_membership_without_a_role_is_an_operator(django_user_model, tenant_a):
    user = django_user_model.objects.create_user("plain", password="x", is_staff=True)
    membership = TenantMembership.objects.create(tenant=tenant_a, user=user)
    assert membership.role == Role.OPERATOR


def test_django_model_permissions_grant_nothing_on_tenant_data(
    django_user_model, tenant_a, staff_of
):
    # One source of truth: a user holding every tenants permission but no membership...
    user = django_user_model.objects.create_user("perms-only", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="tenants"))
    assert not any(can(user, a, tenant_a) for a in Action)
    # ...and a viewer holding them still changes nothing.
    viewer = staff_of(tenant_a, role=Role.VIEWER)
    viewer.user_permissions.add(*Permission.objects.filter(content_type__app_label="tenants"))
    assert not can(viewer, A.CHANGE_CONFIG, tenant_a)


@pytest.fixture
def back_to_the_latest_migrations():
    """These tests migrate tenants back; later tests need every migration applied again."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("back_to_the_latest_migrations")
def test_the_migration_makes_existing_members_operators_and_drops_the_old_group(
    django_user_model,
):
    executor = MigrationExecutor(connection)
    before, after = [("tenants", "0002_api_key_ordering")], [("tenants", "0003_membership_role")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    tenant = old.get_model("tenants", "Tenant").objects.create(name="Old", slug="old")
    user = old.get_model("auth", "User").objects.create(username="old-staff", is_staff=True)
    old.get_model("tenants", "TenantMembership").objects.create(tenant=tenant, user=user)
    codenames = ["view_tenant", "change_tenant", "view_tenantmembership"]
    untouched = old.get_model("auth", "Group").objects.create(name="Tenant administrators")
    untouched.permissions.set(
        old.get_model("auth", "Permission").objects.filter(
            content_type__app_label="tenants", codename__in=codenames
        )
    )

    executor = MigrationExecutor(connection)
    executor.migrate(after)

    # The model of today has columns added after 0003: read only the role.
    role = TenantMembership.objects.filter(tenant_id=tenant.pk).values_list("role", flat=True)
    assert role.get() == Role.OPERATOR
    assert not Group.objects.filter(name="Tenant administrators").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("back_to_the_latest_migrations")
def test_the_migration_keeps_a_tenant_administrators_group_that_was_extended():
    executor = MigrationExecutor(connection)
    before, after = [("tenants", "0002_api_key_ordering")], [("tenants", "0003_membership_role")]
    executor.migrate(before)
    group = Group.objects.create(name="Tenant administrators")
    group.permissions.add(Permission.objects.get(codename="change_price"))
    MigrationExecutor(connection).migrate(after)
    assert Group.objects.filter(name="Tenant administrators").exists()
