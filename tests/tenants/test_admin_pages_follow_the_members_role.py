"""The admin's pages offer what the member's role allows (tenants.permissions), no more."""

import pytest
from django.test import Client

from tenants import services
from tenants.models import TenantAPIKey, TenantMembership
from tenants.permissions import Role
from tests.tenants.helpers import form_data, row_of

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _change_url(tenant) -> str:
    return f"/admin/tenants/tenant/{tenant.pk}/change/"


def test_a_viewer_sees_the_tenant_read_only_and_cannot_post(staff_of, tenant_a):
    client = _client(staff_of(tenant_a, role=Role.VIEWER))
    page = client.get(_change_url(tenant_a))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="name"' not in html and 'name="keys-key_groq"' not in html
    assert 'name="config-preferred_provider"' not in html
    assert 'name="_save"' not in html
    assert "Create an API key" not in html
    before = row_of(tenant_a)
    assert client.post(_change_url(tenant_a), {"name": "Hijacked"}).status_code == 403
    assert row_of(tenant_a) == before


def test_a_member_without_model_permissions_finds_the_tenants_app_on_the_admin_home(
    staff_of, tenant_a
):
    viewer = staff_of(tenant_a, role=Role.VIEWER)
    assert not viewer.user_permissions.exists() and not viewer.groups.exists()
    html = _client(viewer).get("/admin/").content.decode()
    assert "/admin/tenants/tenant/" in html


def test_an_operator_may_create_api_keys_from_the_tenant_page(staff_of, tenant_a):
    html = _client(staff_of(tenant_a)).get(_change_url(tenant_a)).content.decode()
    assert "Create an API key" in html


def test_an_owner_adds_a_member_by_username_without_seeing_every_staff_user(
    staff_of, tenant_a, tenant_b
):
    owner = staff_of(tenant_a, role=Role.OWNER, username="owner-a")
    staff_of(tenant_b, username="staff-of-bravo")
    client = _client(owner)
    html = client.get(_change_url(tenant_a)).content.decode()
    assert "staff-of-bravo" not in html  # no list of all staff users to pick from
    data = form_data(html)
    total = int(data["memberships-TOTAL_FORMS"])
    data.update({
        "memberships-TOTAL_FORMS": str(total + 1),
        f"memberships-{total}-user": "staff-of-bravo",
        f"memberships-{total}-role": Role.VIEWER,
        f"memberships-{total}-tenant": str(tenant_a.pk),
    })
    assert client.post(_change_url(tenant_a), data).status_code == 302
    assert tenant_a.memberships.get(user__username="staff-of-bravo").role == Role.VIEWER


def test_an_unknown_or_non_staff_username_is_a_form_error_and_saves_nothing(
    staff_of, tenant_a, django_user_model
):
    django_user_model.objects.create_user("not-staff", password="x")
    client = _client(staff_of(tenant_a, role=Role.OWNER))
    for username in ("nobody-by-this-name", "not-staff"):
        data = form_data(client.get(_change_url(tenant_a)).content.decode())
        total = int(data["memberships-TOTAL_FORMS"])
        data.update({
            "memberships-TOTAL_FORMS": str(total + 1),
            f"memberships-{total}-user": username,
            f"memberships-{total}-role": Role.OWNER,
            f"memberships-{total}-tenant": str(tenant_a.pk),
        })
        response = client.post(_change_url(tenant_a), data)
        assert response.status_code == 200
        assert "No active staff user has this username." in response.content.decode()
    assert tenant_a.memberships.count() == 1


def test_an_existing_members_user_cannot_be_swapped(staff_of, tenant_a):
    owner = staff_of(tenant_a, role=Role.OWNER, username="owner-a")
    other = staff_of(username="someone-else")
    client = _client(owner)
    data = form_data(client.get(_change_url(tenant_a)).content.decode())
    data["memberships-0-user"] = other.username  # the field is disabled; this is ignored
    assert client.post(_change_url(tenant_a), data).status_code == 302
    assert list(tenant_a.memberships.values_list("user__username", flat=True)) == ["owner-a"]


def test_the_api_key_form_offers_only_tenants_whose_keys_the_user_manages(
    staff_of, tenant_a, tenant_b
):
    user = staff_of(tenant_a)
    TenantMembership.objects.create(tenant=tenant_b, user=user, role=Role.VIEWER)
    client = _client(user)
    page = client.get("/admin/tenants/tenantapikey/add/").content.decode()
    assert str(tenant_a.pk) in page and str(tenant_b.pk) not in page
    response = client.post(
        "/admin/tenants/tenantapikey/add/", {"tenant": str(tenant_b.pk), "name": "sneaky"}
    )
    assert response.status_code == 200 and "tenant" in response.context["form"].errors
    assert not TenantAPIKey.objects.filter(name="sneaky").exists()


def test_revoking_from_the_list_leaves_the_keys_of_tenants_where_the_user_only_views(
    staff_of, tenant_a, tenant_b
):
    user = staff_of(tenant_a)
    TenantMembership.objects.create(tenant=tenant_b, user=user, role=Role.VIEWER)
    mine, _ = services.api_key_create(tenant=tenant_a, name="mine")
    viewed, _ = services.api_key_create(tenant=tenant_b, name="viewed")
    response = _client(user).post(
        "/admin/tenants/tenantapikey/",
        {"action": "revoke_selected", "index": "0",
         "_selected_action": [str(mine.pk), str(viewed.pk)]},
        follow=True,
    )
    html = response.content.decode()
    assert "Revoked 1 key." in html and "1 key was left alone" in html
    mine.refresh_from_db()
    viewed.refresh_from_db()
    assert mine.revoked_at is not None and viewed.revoked_at is None


def test_a_viewer_sees_the_api_keys_read_only(staff_of, tenant_a):
    key, _ = services.api_key_create(tenant=tenant_a, name="billing")
    client = _client(staff_of(tenant_a, role=Role.VIEWER))
    listing = client.get("/admin/tenants/tenantapikey/").content.decode()
    assert "billing" in listing and "revoke_selected" not in listing
    page = client.get(f"/admin/tenants/tenantapikey/{key.pk}/change/").content.decode()
    assert 'name="name"' not in page
    assert client.post(f"/admin/tenants/tenantapikey/{key.pk}/change/",
                       {"name": "renamed"}).status_code == 403
    assert client.get("/admin/tenants/tenantapikey/add/").status_code == 403
    key.refresh_from_db()
    assert key.name == "billing"
