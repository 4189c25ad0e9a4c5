"""The per-key request limit of the OpenAI-compatible endpoint is set on the API key's
admin page; a bad value is a form error and changes nothing."""

import pytest
from django.urls import reverse

from tenants.models import TenantAPIKey

pytestmark = pytest.mark.django_db


def test_a_superuser_sets_and_a_bad_value_changes_nothing(admin_client, tenant_key):
    tenant, _ = tenant_key()
    key = TenantAPIKey.objects.get(tenant=tenant)
    url = reverse("admin:tenants_tenantapikey_change", args=[key.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and b"requests_per_minute" in page.content
    saved = admin_client.post(url, {"name": key.name, "requests_per_minute": "120"})
    assert saved.status_code == 302
    key.refresh_from_db()
    assert key.requests_per_minute == 120
    refused = admin_client.post(url, {"name": key.name, "requests_per_minute": "-3"})
    assert refused.status_code == 200 and b"errornote" in refused.content
    key.refresh_from_db()
    assert key.requests_per_minute == 120
