"""A viewer's operator screens show everything and offer nothing they may not do."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tenants import services
from tenants.models import Tenant, TenantMembership
from tenants.permissions import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(client, tenant_a, django_user_model):
    user = django_user_model.objects.create_user("viewer-a", password="x", is_staff=True)
    TenantMembership.objects.create(tenant=tenant_a, user=user, role=Role.VIEWER)
    client.force_login(user)
    return client


def test_a_viewer_sees_the_key_status_without_inputs_or_buttons(
    viewer_client, tenant_a, canary_keys
):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": canary_keys["groq"]})
    page = viewer_client.get(reverse("screens:keys", args=[tenant_a.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Configured" in html and 'id="read-only-note"' in html
    assert 'type="password"' not in html
    assert "test-button" not in html and "data-test-url" not in html
    assert "Save keys" not in html and "remove-link" not in html


def test_a_viewer_sees_the_provider_settings_disabled_and_cannot_save_them(
    viewer_client, tenant_a, stub_provider
):
    url = reverse("screens:providers", args=[tenant_a.pk])
    html = viewer_client.get(url).content.decode()
    assert "Save provider settings" not in html and 'id="read-only-note"' in html
    assert 'name="quota_requests_groq"' in html
    assert html.count(" disabled") >= 3
    before = Tenant.objects.filter(pk=tenant_a.pk).values("inference_config").get()
    assert viewer_client.post(url, {"preferred_provider": "llm7"}).status_code == 403
    assert Tenant.objects.filter(pk=tenant_a.pk).values("inference_config").get() == before


def test_an_operator_gets_the_inputs_and_buttons(client_a, tenant_a):
    html = client_a.get(reverse("screens:keys", args=[tenant_a.pk])).content.decode()
    assert 'type="password"' in html and "test-button" in html and "Save keys" in html
    assert 'id="read-only-note"' not in html
