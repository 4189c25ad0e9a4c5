"""Issue 8: a key with a character an HTTP header cannot carry (a no-break space pasted
with it, any non-ASCII letter, a space or a control character) is refused when it is
saved or tested, for every provider; one stored before that was refused is skipped by
routing (which fails over) and by the key test and model lists, never a 500."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from llm_routing import complete, keycheck, providers
from tenants import crypto, services
from tenants.models import Tenant
from tests.llm_routing.conftest import usage_rows
from tests.tenants.helpers import make_key

HI = [{"role": "user", "content": "hi"}]
NBSP = "\u00a0"
UNSENDABLE = [f"abcd{NBSP}efgh-1234-5678", "abcdéfgh-1234-5678", "abcd efgh-1234-5678",
              "abcd\tefgh-1234-5678", "abcd\x7fefgh-1234-5678"]


@pytest.fixture
def vllm(settings, stub_provider):
    """An extra provider with the registry's loosest default key pattern (.{8,512})."""
    settings.LLM_EXTRA_PROVIDERS = [
        {"name": "vllm", "base_url": stub_provider.base_url("vllm"), "default_model": "local"}
    ]
    return providers.get_provider("vllm")


@pytest.fixture
def superuser_client(db, django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("ops", password="x"))
    return client


def plant_key(tenant: Tenant, provider: str, key: str) -> None:
    """A key stored before such keys were refused (encrypted as the service would)."""
    tokens = {**tenant.llm_tokens, provider: crypto.encrypt_token(
        tenant_id=tenant.pk, provider=provider, token=key)}
    Tenant.objects.filter(pk=tenant.pk).update(llm_tokens=tokens)
    tenant.refresh_from_db()


@pytest.mark.parametrize("key", UNSENDABLE)
def test_every_provider_refuses_such_a_key_as_malformed(vllm, key):
    for spec in providers.all_providers():
        assert not spec.key_is_well_formed(key), spec.name
        assert not spec.key_is_well_formed(make_key("groq")[:4] + key), spec.name


@pytest.mark.parametrize("key", UNSENDABLE)
def test_saving_such_a_key_through_the_api_is_a_400_and_stores_nothing(
    vllm, make_tenant, superuser_client, key
):
    tenant = make_tenant()
    before = Tenant.objects.filter(pk=tenant.pk).values().get()
    response = superuser_client.put(
        f"/api/tenants/{tenant.pk}/llm-tokens", json.dumps({"vllm": key}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "HTTP header" in response.json()["error"]["fields"]["vllm"]
    assert Tenant.objects.filter(pk=tenant.pk).values().get() == before


def test_saving_such_a_key_on_the_keys_screen_is_a_form_error(vllm, make_tenant, superuser_client):
    tenant = make_tenant()
    response = superuser_client.post(
        reverse("screens:keys", args=[tenant.pk]), {"key_vllm": f"abcd{NBSP}efgh-1234"}
    )
    assert response.status_code == 200
    assert "HTTP header" in response.content.decode()
    tenant.refresh_from_db()
    assert "vllm" not in tenant.llm_tokens


def test_testing_such_a_key_calls_no_provider_on_every_key_test_path(
    vllm, make_tenant, superuser_client, stub_provider
):
    tenant = make_tenant()
    key = f"abcd{NBSP}efgh-1234-5678"
    assert not keycheck.test_key(provider="vllm", api_key=key).valid
    api = superuser_client.post(
        f"/api/tenants/{tenant.pk}/llm-tokens/test",
        json.dumps({"provider": "vllm", "api_key": key}), content_type="application/json",
    )
    screen = superuser_client.post(
        reverse("screens:key_test", args=[tenant.pk]),
        json.dumps({"provider": "vllm", "key": key}), content_type="application/json",
    )
    assert (api.status_code, screen.status_code) == (200, 200)
    assert api.json()["valid"] is False and screen.json()["valid"] is False
    assert stub_provider.stats().get("vllm", {"requests": 0})["requests"] == 0


def test_a_stored_key_that_cannot_be_sent_is_skipped_and_routing_fails_over(
    vllm, make_tenant, stub_provider
):
    tenant = make_tenant(keys=("groq",))
    plant_key(tenant, "vllm", f"abcd{NBSP}efgh-1234-5678")
    result = complete(tenant=tenant, messages=HI, provider="vllm")
    assert result.provider == "groq"
    assert [s.provider for s in result.skipped] == ["vllm"]
    assert [row[0] for row in usage_rows(tenant)] == ["groq"]


def test_key_test_and_model_lists_answer_for_a_stored_key_that_cannot_be_sent(
    vllm, make_tenant, superuser_client, stub_provider
):
    tenant = make_tenant(keys=("groq",))
    plant_key(tenant, "vllm", f"abcd{NBSP}efgh-1234-5678")
    api_test = superuser_client.post(
        f"/api/tenants/{tenant.pk}/llm-tokens/test", json.dumps({"provider": "vllm"}),
        content_type="application/json",
    )
    screen_test = superuser_client.post(
        reverse("screens:key_test", args=[tenant.pk]), json.dumps({"provider": "vllm"}),
        content_type="application/json",
    )
    models = superuser_client.get(f"/api/tenants/{tenant.pk}/available-models")
    assert (api_test.status_code, screen_test.status_code, models.status_code) == (200,) * 3
    assert api_test.json()["valid"] is False and screen_test.json()["valid"] is False
    assert models.json()["providers"]["vllm"]["source"] == "catalogue"
    assert stub_provider.stats().get("vllm", {"requests": 0})["requests"] == 0
    for page in ("screens:keys", "screens:providers"):
        assert superuser_client.get(reverse(page, args=[tenant.pk])).status_code == 200


def test_a_key_stored_through_the_service_is_checked_the_same_way(vllm, make_tenant):
    with pytest.raises(services.TokenValidationError) as caught:
        services.tenant_set_tokens(tenant=make_tenant(), tokens={"vllm": f"x{NBSP}" * 8})
    assert "HTTP header" in caught.value.errors["vllm"]
