"""The Tenant admin: list, config form, provider-key form."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants import services
from tenants.models import Tenant
from tests.tenants.helpers import form_data, make_key, row_of

pytestmark = pytest.mark.django_db


def change_url(tenant):
    return f"/admin/tenants/tenant/{tenant.pk}/change/"


def post_change(client, tenant, **changes):
    """Load the change page like a browser, change some fields, submit it."""
    data = form_data(client.get(change_url(tenant)).content.decode())
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not None}
    return client.post(change_url(tenant), data)


def test_the_list_shows_which_providers_are_configured(superuser_client, tenant_a, tenant_b):
    services.tenant_set_tokens(
        tenant=tenant_a, tokens={"groq": make_key("groq"), "llm7": make_key("llm7")}
    )
    html = superuser_client.get("/admin/tenants/tenant/").content.decode()
    assert "groq, llm7" in html
    assert "Bravo Logistics" in html


def test_the_list_searches_by_name_and_slug(superuser_client, tenant_a, tenant_b):
    html = superuser_client.get("/admin/tenants/tenant/?q=bravo").content.decode()
    assert "Bravo Logistics" in html and "Alpha Foods" not in html


def test_the_list_costs_the_same_queries_for_many_tenants(superuser_client, make_tenant):
    make_tenant()
    with CaptureQueriesContext(connection) as one:
        assert superuser_client.get("/admin/tenants/tenant/").status_code == 200
    for _ in range(15):
        tenant = make_tenant()
        services.tenant_set_tokens(tenant=tenant, tokens={"groq": make_key("groq")})
    with CaptureQueriesContext(connection) as many:
        assert superuser_client.get("/admin/tenants/tenant/").status_code == 200
    assert len(many) == len(one)


def test_the_change_page_renders_forms_not_raw_json(superuser_client, tenant_a):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": make_key("groq")})
    tenant_a.refresh_from_db()
    html = superuser_client.get(change_url(tenant_a)).content.decode()
    assert 'name="config-preferred_provider"' in html
    assert 'name="config-model_openrouter"' in html
    assert 'name="config-quota_requests_groq"' in html
    assert 'type="password" name="keys-key_groq"' in html
    assert 'name="keys-remove_groq"' in html
    assert tenant_a.llm_token_status["groq"]["fingerprint"] in html
    # None of the raw JSON columns, nor the ciphertext, reaches the page.
    assert tenant_a.llm_tokens["groq"][:20] not in html
    assert '"provider_models"' not in html and "provider_models&quot;" not in html
    assert "llm_token_status" not in html and "llm_tokens" not in html


def test_saving_the_config_form_updates_the_config(superuser_client, tenant_a):
    response = post_change(
        superuser_client,
        tenant_a,
        **{
            "config-preferred_provider": "llm7",
            "config-model_llm7": "deepseek-r1",
            "config-auto_failover": None,
            "config-failover_order": "openrouter",
            "config-quota_requests_groq": "1000",
            "config-quota_threshold_percent": "90",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    tenant_a.refresh_from_db()
    config = tenant_a.config
    assert config.preferred_provider == "llm7"
    assert config.model_for("llm7") == "deepseek-r1"
    assert config.auto_failover is False
    assert config.failover_order == ("openrouter",)
    assert config.daily_quota("groq").requests == 1000
    assert config.quota_threshold == 0.9


@pytest.mark.parametrize(
    "changes,field,message",
    [
        ({"config-model_groq": ""}, "model_groq", "has no model"),
        ({"config-failover_order": "groq, mistral"}, "failover_order", "unknown provider"),
        ({"config-quota_tokens_llm7": "-5"}, "quota_tokens_llm7", "greater than or equal"),
        ({"config-quota_threshold_percent": "150"}, "quota_threshold_percent", "less than"),
    ],
)
def test_a_bad_config_shows_a_field_error_and_saves_nothing(
    superuser_client, tenant_a, changes, field, message
):
    before = row_of(tenant_a)
    response = post_change(superuser_client, tenant_a, name="Renamed", **changes)
    assert response.status_code == 200
    errors = response.context["adminform"].form.config_form.errors
    assert message in " ".join(errors[field])
    assert row_of(tenant_a) == before


def test_a_key_set_in_the_admin_is_stored_encrypted(superuser_client, tenant_a):
    key = make_key("openrouter")
    response = post_change(superuser_client, tenant_a, **{"keys-key_openrouter": key})
    assert response.status_code == 302
    tenant_a.refresh_from_db()
    assert key not in str(tenant_a.llm_tokens)
    assert services.tenant_provider_key(tenant=tenant_a, provider="openrouter") == key


def test_a_malformed_key_is_a_field_error_and_nothing_is_saved(superuser_client, tenant_a):
    before = row_of(tenant_a)
    response = post_change(
        superuser_client,
        tenant_a,
        name="Renamed",
        **{"keys-key_groq": "gsk_tooshort", "keys-key_llm7": make_key("llm7")},
    )
    assert response.status_code == 200
    form = response.context["adminform"].form.keys_form
    assert "not a valid Groq key" in " ".join(form.errors["key_groq"])
    assert "key_llm7" not in form.errors
    html = response.content.decode()
    assert "gsk_tooshort" not in html  # password inputs are never filled back in
    assert row_of(tenant_a) == before


def test_the_remove_checkbox_removes_a_key(superuser_client, tenant_a):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": make_key("groq")})
    response = post_change(superuser_client, tenant_a, **{"keys-remove_groq": "on"})
    assert response.status_code == 302
    tenant_a.refresh_from_db()
    assert "groq" not in tenant_a.llm_tokens


def test_a_new_key_and_remove_together_is_an_error(superuser_client, tenant_a):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": make_key("groq")})
    before = row_of(tenant_a)
    response = post_change(
        superuser_client, tenant_a, **{"keys-remove_groq": "on", "keys-key_groq": make_key("groq")}
    )
    assert response.status_code == 200
    assert row_of(tenant_a) == before


def test_leaving_the_key_inputs_blank_keeps_the_keys(superuser_client, tenant_a):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": make_key("groq")})
    before = row_of(tenant_a)["llm_tokens"]
    assert post_change(superuser_client, tenant_a, name="Renamed").status_code == 302
    tenant_a.refresh_from_db()
    assert tenant_a.name == "Renamed"
    assert tenant_a.llm_tokens == before


def test_an_unknown_time_zone_is_refused(superuser_client, tenant_a):
    response = post_change(superuser_client, tenant_a, timezone="Mars/Olympus")
    assert response.status_code == 200
    assert "timezone" in response.context["adminform"].form.errors


def test_a_tenant_can_be_added_with_config_and_keys(superuser_client):
    data = form_data(superuser_client.get("/admin/tenants/tenant/add/").content.decode())
    key = make_key("groq")
    data.update(
        {
            "name": "Charlie",
            "slug": "charlie",
            "timezone": "Europe/Paris",
            "keys-key_groq": key,
            "config-preferred_provider": "openrouter",
        }
    )
    response = superuser_client.post("/admin/tenants/tenant/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    tenant = Tenant.objects.get(slug="charlie")
    assert tenant.config.preferred_provider == "openrouter"
    assert services.tenant_provider_key(tenant=tenant, provider="groq") == key


def test_the_change_history_names_changed_keys_without_their_value(superuser_client, tenant_a):
    key = make_key("llm7")
    post_change(superuser_client, tenant_a, **{"keys-key_llm7": key})
    html = superuser_client.get(f"/admin/tenants/tenant/{tenant_a.pk}/history/").content.decode()
    assert "llm7 key" in html
    assert key not in html


def test_a_superuser_can_delete_a_tenant_with_its_keys(superuser_client, tenant_a):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": make_key("groq")})
    services.api_key_create(tenant=tenant_a, name="svc")
    delete = f"/admin/tenants/tenant/{tenant_a.pk}/delete/"
    assert superuser_client.get(delete).status_code == 200
    assert superuser_client.post(delete, {"post": "yes"}).status_code == 302
    assert not Tenant.objects.filter(pk=tenant_a.pk).exists()
