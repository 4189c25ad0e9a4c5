from django.utils import timezone

from llm_routing import complete, routing_view
from tenants import services
from tenants.models import Tenant

HI = [{"role": "user", "content": "hi"}]


def save_elsewhere(tenant, **config_changes):
    """What another process's save looks like here: a database change, no signal."""
    config = {**tenant.inference_config, **config_changes}
    Tenant.objects.filter(pk=tenant.pk).update(inference_config=config, updated_at=timezone.now())


def test_a_save_in_this_process_applies_to_the_next_call(make_tenant, settings):
    settings.LLM_ROUTING_VIEW_TTL = 3600
    tenant = make_tenant()
    assert complete(tenant="acme", messages=HI).provider == "groq"
    services.tenant_update_inference_config(tenant=tenant, patch={"preferred_provider": "llm7"})
    assert complete(tenant="acme", messages=HI).provider == "llm7"


def test_a_save_in_another_process_applies_once_the_view_is_revalidated(make_tenant, settings):
    settings.LLM_ROUTING_VIEW_TTL = 3600
    tenant = make_tenant()
    assert complete(tenant="acme", messages=HI).provider == "groq"
    save_elsewhere(tenant, preferred_provider="llm7")
    assert complete(tenant="acme", messages=HI).provider == "groq"  # within the TTL: cached
    settings.LLM_ROUTING_VIEW_TTL = 0  # the TTL passes
    assert complete(tenant="acme", messages=HI).provider == "llm7"


def test_new_keys_saved_elsewhere_are_used_after_revalidation(make_tenant, stub_provider, settings):
    settings.LLM_ROUTING_VIEW_TTL = 0
    tenant = make_tenant(keys=("llm7",), preferred_provider="llm7")
    assert complete(tenant=tenant.pk, messages=HI).provider == "llm7"
    other_copy = Tenant.objects.get(pk=tenant.pk)
    Tenant.objects.filter(pk=tenant.pk).update(updated_at=timezone.now())  # bump only
    services.tenant_set_tokens(tenant=other_copy, tokens={"llm7": None,
                                                         "groq": stub_provider.good_key("groq")})
    assert complete(tenant=tenant.pk, messages=HI).provider == "groq"


def test_an_unchanged_tenant_costs_no_reload(make_tenant, settings, django_assert_num_queries):
    settings.LLM_ROUTING_VIEW_TTL = 3600
    tenant = make_tenant()
    view = routing_view.routing_view(tenant.pk)
    with django_assert_num_queries(0):
        assert routing_view.routing_view(tenant.pk) is view


def test_the_view_never_shows_keys_in_its_repr(make_tenant, stub_provider):
    view = routing_view.routing_view(make_tenant().pk)
    view.key_for("groq")
    assert stub_provider.good_key("groq") not in repr(view)
