import pytest
from django.db import connection
from django.urls import reverse

from llm_routing import complete, providers
from tenants import inference_config, services
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
    assert response.json() == client_a.get(url(tenant_a, "inference-config")).json()


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


def _get(client, tenant) -> dict:
    response = client.get(url(tenant, "inference-config"))
    assert response.status_code == 200
    return response.json()


def test_get_answers_every_providers_quota_and_the_full_order_with_defaults_marked(
    client_a, tenant_a
):
    body = _get(client_a, tenant_a)
    names = providers.provider_names()
    assert body["daily_quotas"] == {
        name: {
            "requests": providers.get_provider(name).default_daily_quota.requests,
            "tokens": providers.get_provider(name).default_daily_quota.tokens,
        }
        for name in names
    }
    assert body["daily_quotas"]["groq"]["requests"] == 14_400  # the issue's {} before
    assert body["failover_order"] == [n for n in names if n != "groq"]
    assert body["defaults"] == sorted(
        ["failover_order", *(f"daily_quotas.{name}" for name in names)]
    )


@pytest.fixture
def routed(settings, stub_provider, tenant_a):
    """tenant_a holds the stub's llm7 key; usage rows are written inline."""
    from usage import writer

    settings.USAGE_TRACKER_SYNC = True
    writer.forget_model_ids()
    services.tenant_set_tokens(tenant=tenant_a, tokens={"llm7": stub_provider.good_key("llm7")})
    yield tenant_a
    writer.forget_model_ids()


def test_a_removed_model_shows_the_default_routing_uses_and_says_so(client_a, routed):
    tenant_a = routed
    assert put_json(
        client_a, url(tenant_a, "inference-config"), {"provider_models": {"llm7": None}}
    ).status_code == 200
    body = _get(client_a, tenant_a)
    assert body["provider_models"]["llm7"] == "gpt-4o-mini"  # vanished before
    assert "provider_models.llm7" in body["defaults"]
    assert "provider_models.groq" not in body["defaults"]
    result = complete(tenant=tenant_a, provider="llm7",
                      messages=[{"role": "user", "content": "hi"}], max_tokens=8)
    assert result.model == body["provider_models"]["llm7"]


def test_a_get_answer_sent_back_as_it_is_changes_nothing(client_a, tenant_a):
    before = row_of(tenant_a)
    body = _get(client_a, tenant_a)
    response = put_json(client_a, url(tenant_a, "inference-config"), body)
    assert response.status_code == 200 and response.json() == body
    assert row_of(tenant_a) == before


def test_a_changed_default_in_a_get_answer_is_saved_as_a_choice(client_a, tenant_a):
    body = _get(client_a, tenant_a)
    body["daily_quotas"]["groq"]["requests"] = 500
    assert put_json(client_a, url(tenant_a, "inference-config"), body).status_code == 200
    tenant_a.refresh_from_db()
    assert tenant_a.config.daily_quota("groq").requests == 500
    assert set(tenant_a.config.daily_quotas) == {"groq"}  # the unchanged defaults stay so
    after = _get(client_a, tenant_a)
    assert "daily_quotas.groq" not in after["defaults"] and "daily_quotas.llm7" in after["defaults"]


@pytest.mark.parametrize("defaults, field", [
    ("all", "defaults"),
    (["colour"], "defaults.0"),
    (["failover_order", "provider_models.nobody"], "defaults.1"),
])
def test_a_malformed_defaults_list_is_a_field_error_and_saves_nothing(
    client_a, tenant_a, defaults, field
):
    before = row_of(tenant_a)
    response = put_json(client_a, url(tenant_a, "inference-config"),
                        {"quota_threshold": 0.5, "defaults": defaults})
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {field}
    assert row_of(tenant_a) == before
