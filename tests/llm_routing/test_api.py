import json

import pytest
from django.test import Client

from tenants import services
from tenants.models import Tenant
from tests.llm_routing.conftest import canary_key


@pytest.fixture
def staff_client(db, django_user_model):
    user = django_user_model.objects.create_user("ops", password="x", is_staff=True,
                                                 is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def test_url(tenant, name):
    return f"/api/tenants/{tenant.pk}/{name}"


test_url.__test__ = False


def post_test(client, tenant, body, **extra):
    return client.post(test_url(tenant, "llm-tokens/test"), data=json.dumps(body),
                       content_type="application/json", **extra)


def test_token_test_says_valid_for_the_stub_good_key(staff_client, make_tenant, stub_provider):
    tenant = make_tenant(keys=())
    response = post_test(staff_client, tenant,
                         {"provider": "groq", "api_key": stub_provider.good_key("groq")})
    assert response.status_code == 200
    assert response.json()["valid"] is True
    assert set(response.json()) == {"valid", "message", "details"}
    assert Tenant.objects.get(pk=tenant.pk).llm_tokens == {}  # saves nothing


def test_token_test_says_invalid_for_a_bad_key(staff_client, make_tenant, stub_provider):
    tenant = make_tenant(keys=())
    key = canary_key("openrouter")
    response = post_test(staff_client, tenant, {"provider": "openrouter", "api_key": key})
    assert response.status_code == 200 and response.json()["valid"] is False
    assert key not in response.content.decode()


def test_token_test_without_a_key_tests_the_stored_one_and_records_it(
    staff_client, make_tenant, stub_provider
):
    tenant = make_tenant()
    response = post_test(staff_client, tenant, {"provider": "llm7"})
    assert response.json()["valid"] is True
    assert Tenant.objects.get(pk=tenant.pk).llm_token_status["llm7"]["test_valid"] is True
    assert stub_provider.good_key("llm7") not in response.content.decode()


def test_token_test_with_an_api_key_needs_no_csrf(make_tenant, stub_provider):
    tenant = make_tenant()
    _, raw = services.api_key_create(tenant=tenant, name="svc")
    client = Client(enforce_csrf_checks=True)
    response = post_test(client, tenant, {"provider": "groq"}, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200 and response.json()["valid"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "nope"}, "provider"),
        ({}, "provider"),
        ({"provider": "groq", "api_key": 5}, "api_key"),
        ({"provider": "groq", "api_key": "  "}, "api_key"),
        ({"provider": "groq", "extra": 1}, "extra"),
    ],
)
def test_token_test_rejects_bad_fields(staff_client, make_tenant, stub_provider, body, field):
    response = post_test(staff_client, make_tenant(), body)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert stub_provider.stats() == {}


def test_token_test_is_rate_limited_per_user(staff_client, make_tenant, stub_provider,
                                             django_user_model, settings):
    settings.LLM_KEY_TEST_RATE_PER_MINUTE = 3
    tenant = make_tenant()
    codes = [post_test(staff_client, tenant, {"provider": "llm7"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = post_test(staff_client, tenant, {"provider": "llm7"})
    assert limited.json()["error"]["code"] == "rate_limited"
    assert stub_provider.stats()["llm7"]["requests"] == 3
    other = django_user_model.objects.create_user("ops2", password="x", is_staff=True,
                                                  is_superuser=True)
    client = Client()
    client.force_login(other)
    assert post_test(client, tenant, {"provider": "llm7"}).status_code == 200


def test_token_test_for_another_tenant_is_404(make_tenant, stub_provider):
    mine, theirs = make_tenant(slug="mine"), make_tenant(slug="theirs")
    _, raw = services.api_key_create(tenant=mine, name="svc")
    response = post_test(Client(), theirs, {"provider": "groq"},
                         HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 404
    assert stub_provider.stats() == {}


def test_available_models_lists_every_provider_with_source_and_age(staff_client, make_tenant,
                                                                  stub_provider):
    tenant = make_tenant()
    response = staff_client.get(test_url(tenant, "available-models"))
    assert response.status_code == 200
    providers = response.json()["providers"]
    assert set(providers) == {"groq", "openrouter", "llm7"}
    assert providers["groq"]["source"] == "live" and providers["groq"]["models"]
    for key in (stub_provider.good_key(p) for p in providers):
        assert key not in response.content.decode()


def test_available_models_needs_a_login(make_tenant):
    assert Client().get(test_url(make_tenant(), "available-models")).status_code == 401


def test_available_models_refuses_post(staff_client, make_tenant):
    response = staff_client.post(test_url(make_tenant(), "available-models"))
    assert response.status_code == 405
