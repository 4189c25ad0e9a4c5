import socket

import llm_routing
from llm_routing import keycheck
from tenants.models import Tenant
from tests.llm_routing.conftest import canary_key


def test_the_stub_good_key_is_valid_for_each_provider(stub_provider):
    for provider in ("groq", "openrouter", "llm7"):
        result = keycheck.test_key(provider=provider, api_key=stub_provider.good_key(provider))
        assert result.valid, (provider, result.message)


def test_openrouter_key_test_reports_remaining_credit(stub_provider):
    result = keycheck.test_key(provider="openrouter", api_key=stub_provider.good_key("openrouter"))
    assert result.details["credit_remaining"] == 7.5
    assert "7.50" in result.message


def test_groq_key_test_reports_models_visible(stub_provider):
    result = keycheck.test_key(provider="groq", api_key=stub_provider.good_key("groq"))
    assert result.details["models_visible"] >= 3


def test_a_well_formed_but_unknown_key_is_invalid(stub_provider):
    result = keycheck.test_key(provider="groq", api_key=canary_key("groq"))
    assert not result.valid and "refused" in result.message


def test_a_malformed_key_is_invalid_without_calling_the_provider(stub_provider):
    result = keycheck.test_key(provider="groq", api_key="not-a-key")
    assert not result.valid and "gsk_" in result.message
    assert stub_provider.stats() == {}


def test_an_unreachable_provider_is_reported_not_raised(stub_provider, settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.GROQ_BASE_URL = f"http://127.0.0.1:{port}/groq/v1"
    result = keycheck.test_key(provider="groq", api_key=stub_provider.good_key("groq"))
    assert not result.valid and result.details == {"reachable": False}


def test_testing_a_stored_key_records_when_and_what(make_tenant, stub_provider):
    tenant = make_tenant()
    tokens_before = dict(tenant.llm_tokens)
    result = llm_routing.test_stored_key(tenant=tenant, provider="openrouter")
    assert result.valid
    tenant = Tenant.objects.get(pk=tenant.pk)
    status = tenant.llm_token_status["openrouter"]
    assert status["test_valid"] is True and status["tested_at"]
    assert tenant.llm_tokens == tokens_before


def test_a_missing_stored_key_is_invalid_and_records_nothing(make_tenant):
    tenant = make_tenant(keys=("groq",))
    result = llm_routing.test_stored_key(tenant=tenant, provider="llm7")
    assert not result.valid and "No llm7 key" in result.message
    assert "llm7" not in Tenant.objects.get(pk=tenant.pk).llm_token_status
