"""The "Test" button's JSON endpoint: checks a typed or stored key, saves nothing."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from tenants import services
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def _post(client, tenant, body, **extra):
    return client.post(
        reverse("screens:key_test", args=[tenant.pk]),
        data=json.dumps(body) if not isinstance(body, str) else body,
        content_type="application/json",
        **extra,
    )


def test_a_typed_key_the_provider_accepts_passes_and_is_not_saved(
    client_a, tenant_a, stub_provider, canary_keys
):
    stub_provider.accept_key("groq", canary_keys["groq"])

    response = _post(client_a, tenant_a, {"provider": "groq", "key": canary_keys["groq"]})

    answer = response.json()
    assert response.status_code == 200
    assert answer["valid"] is True and answer["tested"] == "typed"
    assert Tenant.objects.get(pk=tenant_a.pk).llm_tokens == {}
    assert canary_keys["groq"] not in response.content.decode()


def test_a_typed_key_the_provider_refuses_fails_with_the_providers_reason(
    client_a, tenant_a, stub_provider, canary_keys
):
    response = _post(client_a, tenant_a, {"provider": "groq", "key": canary_keys["groq"]})

    answer = response.json()
    assert answer["valid"] is False
    assert "401" in answer["message"] or "refused" in answer["message"]
    assert canary_keys["groq"] not in response.content.decode()


def test_a_badly_formed_typed_key_fails_without_calling_the_provider(
    client_a, tenant_a, stub_provider
):
    response = _post(client_a, tenant_a, {"provider": "openrouter", "key": "sk-or-v1-short"})

    assert response.json()["valid"] is False
    assert "sk-or-v1-" in response.json()["message"]
    assert stub_provider.stats().get("openrouter", {"requests": 0})["requests"] == 0


def test_with_no_typed_key_the_stored_key_is_tested_and_the_result_recorded(
    client_a, tenant_a, stub_provider, canary_keys
):
    stub_provider.accept_key("llm7", canary_keys["llm7"])
    services.tenant_set_tokens(tenant=tenant_a, tokens={"llm7": canary_keys["llm7"]})

    answer = _post(client_a, tenant_a, {"provider": "llm7"}).json()

    tenant_a.refresh_from_db()
    assert answer["valid"] is True and answer["tested"] == "stored"
    assert answer["status"]["test_valid"] is True
    assert tenant_a.llm_token_status["llm7"]["test_valid"] is True


def test_testing_a_provider_with_no_key_at_all_says_so(client_a, tenant_a, stub_provider):
    answer = _post(client_a, tenant_a, {"provider": "groq", "key": ""}).json()

    assert answer["valid"] is False and answer["tested"] == "none"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        json.dumps({"provider": "nosuch"}),
        json.dumps({"provider": 5}),
        json.dumps({"provider": "groq", "key": ["x"]}),
        # Falsy but not text: must not fall back to testing (and recording) the stored key.
        json.dumps({"provider": "groq", "key": 0}),
        json.dumps({"provider": "groq", "key": False}),
        json.dumps({"provider": "groq", "key": []}),
    ],
)
def test_bad_requests_get_a_400_with_the_error_shape(client_a, tenant_a, body):
    response = _post(client_a, tenant_a, body)

    assert response.status_code == 400
    assert set(response.json()["error"]) >= {"code", "message"}


def test_a_test_without_the_csrf_header_is_refused(csrf_client_a, tenant_a, stub_provider):
    response = _post(csrf_client_a, tenant_a, {"provider": "groq"})

    assert response.status_code == 403


def test_a_test_with_the_csrf_header_from_the_page_goes_through(
    csrf_client_a, tenant_a, stub_provider
):
    page = csrf_client_a.get(reverse("screens:keys", args=[tenant_a.pk]))
    token = page.content.decode().split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]

    response = _post(csrf_client_a, tenant_a, {"provider": "groq"}, HTTP_X_CSRFTOKEN=token)

    assert response.status_code == 200


def test_only_post_is_allowed(client_a, tenant_a):
    assert client_a.get(reverse("screens:key_test", args=[tenant_a.pk])).status_code == 405


@pytest.mark.parametrize(
    "body", ['{"provider": ' + "[" * 3000 + "]" * 3000 + "}", "[" * 4000 + "]" * 4000]
)
def test_a_deeply_nested_body_is_a_400_that_calls_no_provider(
    client_a, tenant_a, stub_provider, body
):
    response = _post(client_a, tenant_a, body)

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]["message"]
    assert stub_provider.stats() == {}
