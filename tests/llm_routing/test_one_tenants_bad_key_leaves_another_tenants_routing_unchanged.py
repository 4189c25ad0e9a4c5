"""Issue 4: one tenant's bad key never changes another tenant's routing. The stub refuses
a well-formed key it does not know (401): that tenant's key is marked failing and its
request moves on, while a tenant with a good key keeps its preferred provider, and its own
key status stays clean."""

from llm_routing import complete
from tenants import services
from tenants.models import Tenant
from tests.llm_routing.conftest import canary_key, usage_rows

HI = [{"role": "user", "content": "hi"}]


def test_a_refused_key_marks_only_its_own_tenant(make_tenant, stub_provider, routing_clock):
    bad, good = make_tenant(slug="bad"), make_tenant(slug="good")
    services.tenant_set_tokens(tenant=bad, tokens={"groq": canary_key("groq")})

    first = complete(tenant=bad, messages=HI)
    assert first.provider == "openrouter"
    assert first.attempts[0].outcome == "auth_error"

    for _ in range(3):
        assert complete(tenant=good, messages=HI).provider == "groq"
    assert [row[:2] for row in usage_rows(good)] == [("groq", "success")] * 3

    statuses = {t.slug: t.llm_token_status["groq"] for t in Tenant.objects.all()}
    assert statuses["bad"].get("failing_since")
    assert not statuses["good"].get("failing_since")
