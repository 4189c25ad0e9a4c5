"""Tenant API keys in the admin: shown once, stored hashed, revocable."""

import hashlib
import re

import pytest
from django.test import Client

from tenants import services
from tenants.models import TenantAPIKey
from tests.tenants.helpers import url

pytestmark = pytest.mark.django_db


CREATED = "/admin/tenants/tenantapikey/created/"


def create_key(client, tenant, name="reporting"):
    posted = client.post(
        "/admin/tenants/tenantapikey/add/", {"tenant": str(tenant.pk), "name": name}
    )
    assert posted.status_code == 302 and posted["Location"] == CREATED
    response = client.get(CREATED)
    assert response.status_code == 200
    raw = re.search(r'id="new-api-key"[^>]*>(tk_[^<]+)<', response.content.decode()).group(1)
    return response, raw


def test_creating_a_key_shows_it_once_and_stores_only_its_hash(superuser_client, tenant_a):
    response, raw = create_key(superuser_client, tenant_a)
    assert "no-store" in response["Cache-Control"]
    key = TenantAPIKey.objects.get(name="reporting")
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(TenantAPIKey.objects.filter(pk=key.pk).values().get())
    for page in (
        f"/admin/tenants/tenantapikey/{key.pk}/change/",
        "/admin/tenants/tenantapikey/",
        f"/admin/tenants/tenant/{tenant_a.pk}/change/",
    ):
        html = superuser_client.get(page).content.decode()
        assert raw not in html and raw.split("_", 2)[2] not in html
        assert f"tk_{key.prefix}_" in html


def test_the_shown_key_works_on_the_api(superuser_client, tenant_a):
    _, raw = create_key(superuser_client, tenant_a)
    response = Client().get(url(tenant_a, "llm-tokens"), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert TenantAPIKey.objects.get(name="reporting").last_used_at is not None


def test_the_revoke_action_revokes_and_the_key_stops_working(superuser_client, tenant_a):
    _, raw = create_key(superuser_client, tenant_a)
    key = TenantAPIKey.objects.get(name="reporting")
    response = superuser_client.post(
        "/admin/tenants/tenantapikey/",
        {"action": "revoke_selected", "_selected_action": [str(key.pk)]},
        follow=True,
    )
    assert "Revoked 1 key." in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None
    response = Client().get(url(tenant_a, "llm-tokens"), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401


def test_revoking_twice_keeps_the_first_revocation_time(tenant_a):
    key, _ = services.api_key_create(tenant=tenant_a, name="svc")
    assert services.api_key_revoke(key=key) is True
    first = key.revoked_at
    assert services.api_key_revoke(key=key) is False
    assert key.revoked_at == first


def test_staff_of_the_tenant_can_create_keys(client_a, tenant_a):
    _, raw = create_key(client_a, tenant_a, name="alpha-service")
    assert services.api_key_authenticate(raw).tenant == tenant_a


def test_a_key_needs_a_name(superuser_client, tenant_a):
    response = superuser_client.post(
        "/admin/tenants/tenantapikey/add/", {"tenant": str(tenant_a.pk), "name": "  "}
    )
    assert response.status_code == 200
    assert "name" in response.context["form"].errors
    assert not TenantAPIKey.objects.exists()


def test_the_add_page_can_preselect_a_tenant(superuser_client, tenant_a):
    page = superuser_client.get(f"/admin/tenants/tenantapikey/add/?tenant={tenant_a.pk}")
    assert page.context["form"]["tenant"].value() == str(tenant_a.pk)


def test_the_tenant_page_links_to_creating_a_key_for_it(superuser_client, tenant_a):
    html = superuser_client.get(f"/admin/tenants/tenant/{tenant_a.pk}/change/").content.decode()
    assert f"/admin/tenants/tenantapikey/add/?tenant={tenant_a.pk}" in html


def test_reloading_the_shown_key_page_creates_no_key_and_shows_it_no_more(
    superuser_client, tenant_a
):
    _, raw = create_key(superuser_client, tenant_a)
    assert raw not in str(dict(superuser_client.session))  # taken out of the session
    again = superuser_client.get(CREATED)
    assert again.status_code == 200 and "no-store" in again["Cache-Control"]
    html = again.content.decode()
    assert 'id="key-no-longer-shown"' in html
    assert raw not in html and raw.split("_", 2)[2] not in html
    assert TenantAPIKey.objects.count() == 1


def test_the_post_answer_itself_carries_no_key(superuser_client, tenant_a):
    posted = superuser_client.post(
        "/admin/tenants/tenantapikey/add/", {"tenant": str(tenant_a.pk), "name": "svc"}
    )
    assert posted.status_code == 302 and b"tk_" not in posted.content


def test_a_key_left_in_one_session_is_not_shown_in_another(superuser_client, tenant_a):
    superuser_client.post(
        "/admin/tenants/tenantapikey/add/", {"tenant": str(tenant_a.pk), "name": "svc"}
    )
    other = Client()
    other.force_login(TenantAPIKey.objects.get(name="svc").created_by)
    assert 'id="new-api-key"' not in other.get(CREATED).content.decode()
    assert 'id="new-api-key"' in superuser_client.get(CREATED).content.decode()
