"""Issue 2 acceptance 5 over issue 4's endpoints: bad input to POST llm-tokens/test and
GET available-models gets a 4xx JSON error with a message, calls no provider and changes
nothing (no key stored, no test result recorded)."""

import json

import pytest
from django.test import Client

from tenants.models import Tenant

JSON = "application/json"

# (name, content type, raw body, status)
CASES = [
    ("not json", JSON, b"{provider: groq}", 400),
    ("truncated", JSON, b'{"provider": "gr', 400),
    ("blank", JSON, b"   ", 400),
    ("top-level list", JSON, b'["groq"]', 400),
    ("top-level string", JSON, b'"groq"', 400),
    ("invalid utf-8", JSON, b'{"provider": "\xff\xfe"}', 400),
    ("huge body", JSON, json.dumps({"provider": "groq", "api_key": "a" * 70_000}).encode(), 413),
    ("text/plain", "text/plain", b'{"provider": "groq"}', 415),
    ("form encoded", "application/x-www-form-urlencoded", b"provider=groq", 415),
    ("unknown provider", JSON, b'{"provider": "mistral"}', 400),
    ("provider not a string", JSON, b'{"provider": ["groq"]}', 400),
    ("provider null", JSON, b'{"provider": null}', 400),
    ("api_key a number", JSON, b'{"provider": "groq", "api_key": 12345678901234567890}', 400),
    ("api_key an object", JSON, b'{"provider": "groq", "api_key": {"k": "v"}}', 400),
    ("unknown field", JSON, b'{"provider": "groq", "save": true}', 400),
]


@pytest.fixture
def staff_client(db, django_user_model):
    user = django_user_model.objects.create_superuser("ops", password="x")
    client = Client()
    client.force_login(user)
    return client


def _row(tenant):
    return Tenant.objects.filter(pk=tenant.pk).values().get()


@pytest.mark.parametrize("content_type,body,status", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_key_test_input_is_a_4xx_that_calls_no_provider_and_changes_nothing(
    staff_client, make_tenant, stub_provider, content_type, body, status
):
    tenant = make_tenant()
    before = _row(tenant)
    response = staff_client.post(
        f"/api/tenants/{tenant.pk}/llm-tokens/test", body, content_type=content_type
    )
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert error["code"] and error["message"]
    assert stub_provider.stats() == {}
    assert _row(tenant) == before


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_available_models_refuses_writes_and_changes_nothing(
    staff_client, make_tenant, stub_provider, method
):
    tenant = make_tenant()
    before = _row(tenant)
    response = getattr(staff_client, method)(
        f"/api/tenants/{tenant.pk}/available-models", b"{}", content_type=JSON
    )
    assert response.status_code == 405
    assert response.json()["error"]["message"]
    assert _row(tenant) == before
