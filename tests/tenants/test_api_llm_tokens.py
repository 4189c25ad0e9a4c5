import pytest

from tenants import services
from tests.tenants.helpers import make_key, put_json, row_of, url

pytestmark = pytest.mark.django_db


def test_get_lists_every_provider_as_not_configured_for_a_new_tenant(client_a, tenant_a):
    response = client_a.get(url(tenant_a, "llm-tokens"))
    assert response.status_code == 200
    providers = response.json()["providers"]
    assert set(providers) == {"groq", "openrouter", "llm7"}
    assert all(not entry["configured"] for entry in providers.values())
    assert response["Cache-Control"] == "no-store"


def test_put_sets_only_the_given_providers_and_shows_a_fingerprint(client_a, tenant_a):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"llm7": make_key("llm7")})
    before = dict(tenant_a.llm_tokens)
    groq = make_key("groq")
    response = put_json(client_a, url(tenant_a, "llm-tokens"), {"groq": groq})
    assert response.status_code == 200
    body = response.json()
    assert body["changes"] == {"groq": "set"}
    assert body["providers"]["groq"]["configured"] is True
    assert body["providers"]["groq"]["fingerprint"].startswith("fp-")
    assert body["providers"]["groq"]["set_at"]
    assert body["providers"]["openrouter"]["configured"] is False
    tenant_a.refresh_from_db()
    assert tenant_a.llm_tokens["llm7"] == before["llm7"]
    assert services.tenant_provider_key(tenant=tenant_a, provider="groq") == groq


def test_put_null_removes_a_key(client_a, tenant_a):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": make_key("groq")})
    response = put_json(client_a, url(tenant_a, "llm-tokens"), {"groq": None})
    assert response.status_code == 200
    assert response.json()["changes"] == {"groq": "removed"}
    tenant_a.refresh_from_db()
    assert "groq" not in tenant_a.llm_tokens
    assert services.tenant_provider_key(tenant=tenant_a, provider="groq") is None


def test_one_malformed_token_is_named_and_nothing_is_saved(client_a, tenant_a):
    before = row_of(tenant_a)
    response = put_json(
        client_a,
        url(tenant_a, "llm-tokens"),
        {"groq": make_key("groq"), "openrouter": "sk-or-v1-not-hex", "llm7": make_key("llm7")},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_tokens"
    assert set(error["fields"]) == {"openrouter"}
    assert "openrouter" in error["message"]
    assert "not-hex" not in response.content.decode()
    assert row_of(tenant_a) == before


def test_an_unknown_provider_is_refused_even_when_removing(client_a, tenant_a):
    before = row_of(tenant_a)
    response = put_json(client_a, url(tenant_a, "llm-tokens"), {"mistral": None})
    assert response.status_code == 400
    assert "unknown provider" in response.json()["error"]["fields"]["mistral"]
    assert row_of(tenant_a) == before


def test_an_empty_object_changes_nothing(client_a, tenant_a):
    before = row_of(tenant_a)
    response = put_json(client_a, url(tenant_a, "llm-tokens"), {})
    assert response.status_code == 200
    assert response.json()["changes"] == {}
    assert row_of(tenant_a) == before


def test_get_shows_when_a_key_was_last_tested(client_a, tenant_a):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": make_key("groq")})
    services.tenant_record_token_test(tenant=tenant_a, provider="groq", valid=True, message="ok")
    entry = client_a.get(url(tenant_a, "llm-tokens")).json()["providers"]["groq"]
    assert entry["tested_at"] and entry["test_valid"] is True
