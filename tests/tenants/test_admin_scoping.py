"""Non-superuser staff see and change only their own tenants in the admin."""

import pytest

from tenants import services
from tenants.models import TenantAPIKey
from tests.tenants.helpers import form_data, make_key, row_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant_b_with_data(tenant_b):
    services.tenant_set_tokens(tenant=tenant_b, tokens={"groq": make_key("groq")})
    key, _ = services.api_key_create(tenant=tenant_b, name="bravo-billing")
    tenant_b.refresh_from_db()
    return tenant_b, key


def assert_missing(response, client):
    """A 404, or the admin's own "doesn't exist" redirect: never tenant B's data."""
    assert response.status_code in (302, 404)
    if response.status_code == 302:
        assert response["Location"] == "/admin/"
        page = client.get("/admin/").content.decode()
        assert "doesn’t exist" in page
    assert "Bravo" not in response.content.decode()


def test_the_list_shows_only_the_staff_users_tenants(client_a, tenant_a, tenant_b_with_data):
    html = client_a.get("/admin/tenants/tenant/").content.decode()
    assert "Alpha Foods" in html
    assert "Bravo" not in html


@pytest.mark.parametrize("page", ["change", "history", "delete"])
def test_every_admin_page_of_tenant_b_is_missing_for_staff_of_a(client_a, tenant_b_with_data, page):
    tenant_b, _ = tenant_b_with_data
    response = client_a.get(f"/admin/tenants/tenant/{tenant_b.pk}/{page}/")
    assert_missing(response, client_a)


def test_posting_to_tenant_bs_change_page_changes_nothing(client_a, tenant_b_with_data):
    tenant_b, _ = tenant_b_with_data
    before = row_of(tenant_b)
    response = client_a.post(
        f"/admin/tenants/tenant/{tenant_b.pk}/change/",
        {"name": "Hijacked", "slug": "bravo", "timezone": "UTC", "keys-remove_groq": "on"},
    )
    assert_missing(response, client_a)
    assert row_of(tenant_b) == before


@pytest.mark.parametrize("page", ["change", "history", "delete"])
def test_tenant_bs_api_keys_are_missing_for_staff_of_a(client_a, tenant_b_with_data, page):
    _, key = tenant_b_with_data
    assert_missing(client_a.get(f"/admin/tenants/tenantapikey/{key.pk}/{page}/"), client_a)


def test_the_api_key_list_shows_only_own_keys(client_a, tenant_a, tenant_b_with_data):
    services.api_key_create(tenant=tenant_a, name="alpha-billing")
    html = client_a.get("/admin/tenants/tenantapikey/").content.decode()
    assert "alpha-billing" in html and "bravo-billing" not in html


def test_staff_cannot_create_an_api_key_for_tenant_b(client_a, tenant_b_with_data):
    tenant_b, _ = tenant_b_with_data
    page = client_a.get("/admin/tenants/tenantapikey/add/").content.decode()
    assert str(tenant_b.pk) not in page
    response = client_a.post(
        "/admin/tenants/tenantapikey/add/", {"tenant": str(tenant_b.pk), "name": "sneaky"}
    )
    assert response.status_code == 200
    assert "tenant" in response.context["form"].errors
    assert not TenantAPIKey.objects.filter(name="sneaky").exists()


def test_staff_change_their_own_tenant(client_a, tenant_a):
    url = f"/admin/tenants/tenant/{tenant_a.pk}/change/"
    data = form_data(client_a.get(url).content.decode())
    key = make_key("groq")
    data.update({"name": "Alpha Foods Ltd", "keys-key_groq": key})
    response = client_a.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    tenant_a.refresh_from_db()
    assert tenant_a.name == "Alpha Foods Ltd"
    assert services.tenant_provider_key(tenant=tenant_a, provider="groq") == key


def test_staff_may_neither_add_nor_delete_tenants(client_a, tenant_a):
    assert client_a.get("/admin/tenants/tenant/add/").status_code == 403
    assert client_a.get(f"/admin/tenants/tenant/{tenant_a.pk}/delete/").status_code == 403


def test_operators_see_memberships_but_cannot_edit_them(client_a, tenant_a, staff_of):
    html = client_a.get(f"/admin/tenants/tenant/{tenant_a.pk}/change/").content.decode()
    assert "staff-a" in html
    assert 'name="memberships-0-user"' not in html


def test_a_superuser_manages_memberships_inline(superuser_client, tenant_a, staff_of):
    newcomer = staff_of(username="newcomer")
    url = f"/admin/tenants/tenant/{tenant_a.pk}/change/"
    data = form_data(superuser_client.get(url).content.decode())
    total = int(data["memberships-TOTAL_FORMS"])
    data.update(
        {
            "memberships-TOTAL_FORMS": str(total + 1),
            f"memberships-{total}-user": newcomer.username,
            f"memberships-{total}-role": "viewer",
            f"memberships-{total}-tenant": str(tenant_a.pk),
        }
    )
    assert superuser_client.post(url, data).status_code == 302
    assert tenant_a.memberships.get(user=newcomer).role == "viewer"


def test_a_staff_user_without_membership_sees_no_tenant(staff_of, tenant_a, client):
    loner = staff_of(username="loner")
    client.force_login(loner)
    assert "Alpha" not in client.get("/admin/tenants/tenant/").content.decode()
    assert client.get(f"/admin/tenants/tenant/{tenant_a.pk}/change/").status_code == 404
