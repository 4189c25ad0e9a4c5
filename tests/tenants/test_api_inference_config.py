import pytest
from django.db import connection
from django.urls import reverse

from tenants import inference_config
from tenants.models import Tenant
from tests.tenants.helpers import put_json, row_of, url

pytestmark = pytest.mark.django_db


def test_a_new_tenant_has_the_documented_default_config(client_a, tenant_a):
    body = client_a.get(url(tenant_a, "inference-config")).json()
    assert body["preferred_provider"] == "groq"
    assert body["auto_failover"] is True
    assert body["provider_models"] == {
        "groq": "llama-3.3-70b-versatile",
        "openrouter": "deepseek/deepseek-r1",
        "llm7": "gpt-4o-mini",
    }
    assert body["quota_threshold"] == inference_config.DEFAULT_QUOTA_THRESHOLD


def test_a_partial_update_merges_into_the_current_config(client_a, tenant_a):
    response = put_json(
        client_a,
        url(tenant_a, "inference-config"),
        {"preferred_provider": "openrouter", "provider_models": {"llm7": "deepseek-r1"}},
    )
    assert response.status_code == 200
    tenant_a.refresh_from_db()
    config = tenant_a.config
    assert config.preferred_provider == "openrouter"
    assert config.model_for("llm7") == "deepseek-r1"
    assert config.model_for("groq") == "llama-3.3-70b-versatile"  # untouched
    assert config.auto_failover is True
    assert response.json() == config.to_json()


def test_failover_order_and_quotas_round_trip(client_a, tenant_a):
    patch = {
        "failover_order": ["llm7", "openrouter"],
        "daily_quotas": {"groq": {"requests": 500, "tokens": None}},
        "quota_threshold": 0.5,
    }
    assert put_json(client_a, url(tenant_a, "inference-config"), patch).status_code == 200
    tenant_a.refresh_from_db()
    config = tenant_a.config
    assert config.candidate_order() == ["groq", "llm7", "openrouter"]
    assert config.daily_quota("groq").requests == 500
    assert config.quota_threshold == 0.5


def test_field_errors_name_each_field_and_save_nothing(client_a, tenant_a):
    before = row_of(tenant_a)
    response = put_json(
        client_a,
        url(tenant_a, "inference-config"),
        {"auto_failover": "yes", "provider_models": {"groq": 5}, "colour": "blue"},
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"auto_failover", "provider_models.groq", "colour"}
    assert row_of(tenant_a) == before


def test_removing_the_preferred_providers_model_is_refused(client_a, tenant_a):
    response = put_json(
        client_a, url(tenant_a, "inference-config"), {"provider_models": {"groq": None}}
    )
    assert response.status_code == 400
    assert "preferred provider" in response.json()["error"]["fields"]["provider_models"]


def test_putting_the_same_config_does_not_touch_the_row(client_a, tenant_a):
    before = row_of(tenant_a)
    response = put_json(client_a, url(tenant_a, "inference-config"), {"auto_failover": True})
    assert response.status_code == 200
    assert row_of(tenant_a)["updated_at"] == before["updated_at"]


@pytest.mark.parametrize("model", ["m\ud800", "m\udc00x", "m\x00", "\ud83d"])
def test_a_model_name_with_a_lone_surrogate_or_nul_is_a_400_and_nothing_is_saved(
    client_a, tenant_a, model
):
    before = row_of(tenant_a)
    # json.dumps escapes the surrogate as \ud800: valid JSON text, an invalid string.
    response = put_json(
        client_a, url(tenant_a, "inference-config"), {"provider_models": {"groq": model}}
    )
    assert response.status_code == 400
    assert "provider_models.groq" in response.json()["error"]["fields"]
    assert row_of(tenant_a) == before


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="PostgreSQL's jsonb cannot hold a lone surrogate"
)
def test_pages_still_open_for_a_surrogate_stored_before_it_was_refused(
    client_a, tenant_a, stub_provider
):
    stored = {**tenant_a.inference_config, "provider_models": {"groq": "m\ud800"}}
    Tenant.objects.filter(pk=tenant_a.pk).update(inference_config=stored)
    for page in (
        f"/admin/tenants/tenant/{tenant_a.pk}/change/",
        reverse("screens:providers", args=[tenant_a.pk]),
        url(tenant_a, "inference-config"),
    ):
        response = client_a.get(page)
        assert response.status_code == 200, page
