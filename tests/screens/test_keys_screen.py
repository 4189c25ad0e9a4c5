"""The key management screen: status per provider, save, remove with confirmation."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tenants import services
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def _url(tenant, name="screens:keys", *args):
    return reverse(name, args=[tenant.pk, *args])


def test_keys_page_lists_every_provider_with_its_status(client_a, tenant_a, canary_keys):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": canary_keys["groq"]})
    fingerprint = services.tenant_token_status(tenant=tenant_a)["groq"]["fingerprint"]

    page = client_a.get(_url(tenant_a)).content.decode()

    for row in ("key-row-groq", "key-row-openrouter", "key-row-llm7"):
        assert row in page
    assert fingerprint in page
    assert page.count("Not configured") == 2


def test_keys_page_never_shows_a_stored_key_or_its_ciphertext(client_a, tenant_a, canary_keys):
    services.tenant_set_tokens(tenant=tenant_a, tokens=canary_keys)
    tenant_a.refresh_from_db()

    page = client_a.get(_url(tenant_a)).content.decode()

    for provider, key in canary_keys.items():
        assert key not in page
        assert tenant_a.llm_tokens[provider] not in page
    assert 'value="' not in page.split('type="password"')[1].split(">")[0]


def test_saving_a_key_stores_it_and_reports_each_provider(client_a, tenant_a, canary_keys):
    response = client_a.post(
        _url(tenant_a),
        {"key_groq": canary_keys["groq"], "key_llm7": canary_keys["llm7"]},
        follow=True,
    )

    page = response.content.decode()
    tenant_a.refresh_from_db()
    assert services.tenant_provider_key(tenant=tenant_a, provider="groq") == canary_keys["groq"]
    assert services.tenant_provider_key(tenant=tenant_a, provider="llm7") == canary_keys["llm7"]
    assert tenant_a.configured_providers() == ["groq", "llm7"]
    assert "Groq: key set" in page and "LLM7: key set" in page
    assert canary_keys["groq"] not in page and canary_keys["llm7"] not in page


def test_a_badly_formed_key_is_reported_beside_its_field_and_nothing_is_saved(
    client_a, tenant_a, canary_keys
):
    bad = "gsk_" + canary_keys["groq"][4:20]  # right prefix, far too short
    response = client_a.post(
        _url(tenant_a), {"key_groq": bad, "key_openrouter": canary_keys["openrouter"]}
    )

    page = response.content.decode()
    row = page.split('id="key-row-groq"')[1].split("</tr>")[0]
    assert response.status_code == 200
    assert "errorlist" in row and "gsk_ followed by 52" in row
    assert "No key was saved" in page
    assert Tenant.objects.get(pk=tenant_a.pk).llm_tokens == {}
    assert bad not in page and canary_keys["openrouter"] not in page


def test_saving_with_every_field_empty_says_there_is_nothing_to_save(client_a, tenant_a):
    response = client_a.post(_url(tenant_a), {"key_groq": "  "})

    assert "Nothing to save" in response.content.decode()
    assert Tenant.objects.get(pk=tenant_a.pk).llm_tokens == {}


def test_save_without_a_csrf_token_is_refused(csrf_client_a, tenant_a, canary_keys):
    response = csrf_client_a.post(_url(tenant_a), {"key_groq": canary_keys["groq"]})

    assert response.status_code == 403
    assert Tenant.objects.get(pk=tenant_a.pk).llm_tokens == {}


def test_save_never_removes_a_key_even_when_a_remove_box_is_posted(client_a, tenant_a, canary_keys):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": canary_keys["groq"]})

    client_a.post(_url(tenant_a), {"remove_groq": "on", "key_llm7": canary_keys["llm7"]})

    assert Tenant.objects.get(pk=tenant_a.pk).configured_providers() == ["groq", "llm7"]


def test_removing_a_key_asks_for_confirmation_first(client_a, tenant_a, canary_keys):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": canary_keys["groq"]})
    url = _url(tenant_a, "screens:key_remove", "groq")

    confirmation = client_a.get(url)

    assert confirmation.status_code == 200
    assert "Yes, remove the Groq key" in confirmation.content.decode()
    assert Tenant.objects.get(pk=tenant_a.pk).configured_providers() == ["groq"]

    client_a.post(url)

    assert Tenant.objects.get(pk=tenant_a.pk).configured_providers() == []


def test_removing_an_unknown_provider_is_a_404(client_a, tenant_a):
    assert client_a.get(_url(tenant_a, "screens:key_remove", "nosuch")).status_code == 404


def test_a_failing_key_is_highlighted_in_words_not_only_colour(client_a, tenant_a, canary_keys):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": canary_keys["groq"]})
    services.tenant_mark_token_failing(tenant=tenant_a, provider="groq", reason="HTTP 401")

    page = client_a.get(_url(tenant_a)).content.decode()

    row = page.split('id="key-row-groq"')[1].split("</tr>")[0]
    assert "is-failing" in row and "Failing" in row


@pytest.mark.parametrize(
    ("method", "name", "extra"),
    [
        ("get", "screens:keys", ()),
        ("post", "screens:keys", ()),
        ("get", "screens:key_remove", ("groq",)),
        ("post", "screens:key_remove", ("groq",)),
        ("post", "screens:key_test", ()),
    ],
)
def test_staff_of_another_tenant_get_404_and_change_nothing(
    client_a, tenant_b, canary_keys, method, name, extra
):
    services.tenant_set_tokens(tenant=tenant_b, tokens={"groq": canary_keys["groq"]})
    before = Tenant.objects.get(pk=tenant_b.pk).llm_tokens

    response = getattr(client_a, method)(
        _url(tenant_b, name, *extra), {"key_groq": canary_keys["groq"][:-1] + "X"}
    )

    assert response.status_code == 404
    assert Tenant.objects.get(pk=tenant_b.pk).llm_tokens == before


def test_anonymous_visitors_are_sent_to_the_admin_login(client, tenant_a):
    response = client.get(_url(tenant_a))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_a_membership_see_no_tenant(client, tenant_a, django_user_model):
    loner = django_user_model.objects.create_user("loner", password="x", is_staff=True)
    client.force_login(loner)

    assert client.get(_url(tenant_a)).status_code == 404
