import uuid

import pytest
from django.http import Http404

from tenants import selectors, services

pytestmark = pytest.mark.django_db


def test_staff_see_only_their_tenants_and_superusers_see_all(
    staff_a, tenant_a, tenant_b, django_user_model
):
    assert list(selectors.tenants_for_user(staff_a)) == [tenant_a]
    root = django_user_model.objects.create_superuser("root2", password="x")
    assert set(selectors.tenants_for_user(root)) == {tenant_a, tenant_b}


def test_inactive_or_non_staff_users_see_nothing(staff_a):
    staff_a.is_active = False
    assert not selectors.tenants_for_user(staff_a).exists()
    staff_a.is_active, staff_a.is_staff = True, False
    assert not selectors.tenants_for_user(staff_a).exists()


@pytest.mark.parametrize("bad_id", ["nope", "", None, 42])
def test_malformed_ids_are_404(staff_a, bad_id):
    with pytest.raises(Http404):
        selectors.get_tenant_for_user(staff_a, bad_id)


def test_another_tenants_id_is_the_same_404_as_an_unknown_one(staff_a, tenant_b):
    for tenant_id in (tenant_b.pk, uuid.uuid4()):
        with pytest.raises(Http404):
            selectors.get_tenant_for_user(staff_a, tenant_id)


def test_an_api_key_reaches_only_its_tenant(tenant_a, tenant_b):
    key, _ = services.api_key_create(tenant=tenant_a, name="svc")
    assert selectors.get_tenant_for_api_key(key, str(tenant_a.pk)) == tenant_a
    with pytest.raises(Http404):
        selectors.get_tenant_for_api_key(key, tenant_b.pk)


def test_resolve_tenant_accepts_a_tenant_an_id_or_a_slug(tenant_a):
    assert selectors.resolve_tenant(tenant_a) is tenant_a
    assert selectors.resolve_tenant(tenant_a.pk) == tenant_a
    assert selectors.resolve_tenant(str(tenant_a.pk)) == tenant_a
    assert selectors.resolve_tenant("alpha") == tenant_a
    with pytest.raises(type(tenant_a).DoesNotExist):
        selectors.resolve_tenant("nobody")
