from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tenants import services
from tenants.models import Tenant
from tests.tenants.helpers import assert_no_trace, make_key, row_of

pytestmark = pytest.mark.django_db

ENV_VARS = ("GROQ_API_KEY", "OPENROUTER_API_KEY", "LLM7_API_KEY")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def run(*args) -> str:
    out = StringIO()
    call_command("migrate_system_tokens", *args, stdout=out)
    return out.getvalue()


def oldest_and_newer(make_tenant):
    oldest = make_tenant(slug="first")
    newer = make_tenant(slug="second")
    return oldest, newer


def test_keys_go_encrypted_into_the_oldest_tenant(make_tenant, monkeypatch):
    oldest, newer = oldest_and_newer(make_tenant)
    groq, llm7 = make_key("groq"), make_key("llm7")
    monkeypatch.setenv("GROQ_API_KEY", groq)
    monkeypatch.setenv("LLM7_API_KEY", llm7)
    output = run()
    assert output.strip() == (
        "migrate_system_tokens: tenant first: groq stored, openrouter not set, llm7 stored"
    )
    assert_no_trace(output, [groq, llm7])
    oldest.refresh_from_db()
    assert services.tenant_provider_key(tenant=oldest, provider="groq") == groq
    assert services.tenant_provider_key(tenant=oldest, provider="llm7") == llm7
    assert groq not in str(row_of(oldest))
    newer.refresh_from_db()
    assert newer.llm_tokens == {}


def test_a_tenant_can_be_named(make_tenant, monkeypatch):
    _, newer = oldest_and_newer(make_tenant)
    monkeypatch.setenv("OPENROUTER_API_KEY", make_key("openrouter"))
    assert "tenant second: groq not set, openrouter stored" in run("--tenant", "second")
    newer.refresh_from_db()
    assert list(newer.llm_tokens) == ["openrouter"]


def test_existing_keys_stay_unless_overwrite(tenant_a, monkeypatch):
    existing, incoming = make_key("groq"), make_key("groq")
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": existing})
    monkeypatch.setenv("GROQ_API_KEY", incoming)
    assert "groq kept existing key" in run()
    assert "--overwrite" in run()
    assert services.tenant_provider_key(tenant=tenant_a, provider="groq") == existing
    assert "groq replaced" in run("--overwrite")
    tenant_a.refresh_from_db()
    assert services.tenant_provider_key(tenant=tenant_a, provider="groq") == incoming


@pytest.mark.parametrize("extra", [(), ("--overwrite",)])
def test_rerunning_changes_nothing(tenant_a, monkeypatch, extra):
    monkeypatch.setenv("GROQ_API_KEY", make_key("groq"))
    monkeypatch.setenv("OPENROUTER_API_KEY", make_key("openrouter"))
    run(*extra)
    before = row_of(tenant_a)
    output = run(*extra)
    assert "groq already stored, openrouter already stored" in output
    assert row_of(tenant_a) == before


def test_a_malformed_key_stores_nothing_and_names_the_variable(tenant_a, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", make_key("groq"))
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-" + "Z" * 64)
    before = row_of(tenant_a)
    with pytest.raises(CommandError, match="OPENROUTER_API_KEY is not a valid OpenRouter key"):
        run()
    assert row_of(tenant_a) == before


def test_empty_variables_count_as_not_set(tenant_a, monkeypatch):
    monkeypatch.setenv("LLM7_API_KEY", "  ")
    assert "llm7 not set" in run()


def test_an_unknown_tenant_is_a_clear_error(tenant_a):
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        run("--tenant", "nope")


def test_without_tenants_it_says_so(db):
    assert not Tenant.objects.exists()
    with pytest.raises(CommandError, match="no tenants yet"):
        run()


def test_an_unreadable_existing_key_is_kept_and_reported(tenant_a, monkeypatch):
    Tenant.objects.filter(pk=tenant_a.pk).update(llm_tokens={"groq": "not-a-ciphertext"})
    monkeypatch.setenv("GROQ_API_KEY", make_key("groq"))
    assert "groq kept existing key (unreadable)" in run()
    tenant_a.refresh_from_db()
    assert tenant_a.llm_tokens == {"groq": "not-a-ciphertext"}
