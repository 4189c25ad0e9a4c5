"""Issue 8: a tenant whose slug spells another tenant's id cannot take over its requests:
``complete(tenant="<id>")`` and ``llm_chat --tenant <id>`` route with the id's own keys and
record usage under the id's own tenant."""

import pytest
from django.core.management import call_command

from llm_routing import complete
from tenants import services
from tenants.models import Tenant
from tests.llm_routing.conftest import usage_rows
from tests.tenants.helpers import make_key

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def victim_and_attacker(make_tenant):
    victim = make_tenant(slug="victim")
    # Named to sort first, holding keys of its own that the stub does not know.
    attacker = Tenant.objects.create(name="Aaa Attacker", slug="attacker")
    services.tenant_set_tokens(
        tenant=attacker, tokens={p: make_key(p) for p in ("groq", "openrouter", "llm7")}
    )
    # A slug saved before slugs were validated (the admin now refuses it).
    Tenant.objects.filter(pk=attacker.pk).update(slug=str(victim.pk))
    return victim, attacker


@pytest.mark.parametrize("spelling", [str, lambda pk: pk.hex, lambda pk: pk])
def test_complete_with_an_id_uses_that_tenants_keys(victim_and_attacker, spelling):
    victim, attacker = victim_and_attacker
    result = complete(tenant=spelling(victim.pk), messages=HI)
    assert result.attempts[0].outcome == "success"
    assert [row[1] for row in usage_rows(victim)] == ["success"]
    assert usage_rows(attacker) == []


def test_llm_chat_with_an_id_uses_that_tenants_keys(victim_and_attacker, capsys):
    victim, attacker = victim_and_attacker
    call_command("llm_chat", "hello", tenant=str(victim.pk))
    assert "answered by groq" in capsys.readouterr().out
    assert [row[1] for row in usage_rows(victim)] == ["success"]
    assert usage_rows(attacker) == []
