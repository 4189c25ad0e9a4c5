"""The provider selection screen: cards, model dropdowns, failover and quotas."""

from __future__ import annotations

import pytest
from django.urls import reverse

from llm_routing import catalogue
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def _url(tenant):
    return reverse("screens:providers", args=[tenant.pk])


def _valid_post(**changes):
    data = {
        "preferred_provider": "groq",
        "auto_failover": "on",
        "quota_threshold_percent": "80",
        "model_groq": "llama-3.3-70b-versatile",
        "model_openrouter": "deepseek/deepseek-r1",
        "model_llm7": "gpt-4o-mini",
        "order_groq": "1",
        "order_openrouter": "2",
        "order_llm7": "3",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_each_provider_gets_a_card_and_the_current_choice_is_marked(
    client_a, tenant_a, stub_provider
):
    page = client_a.get(_url(tenant_a)).content.decode()

    for provider in ("groq", "openrouter", "llm7"):
        assert f'id="card-{provider}"' in page
    current = page.split('id="card-groq"')[0].rsplit("<section", 1)[1]
    assert "is-current" in current
    assert page.count("badge-current") == 1


def test_model_dropdowns_list_the_providers_models_with_context_and_price(
    client_a, tenant_a, stub_provider
):
    page = client_a.get(_url(tenant_a)).content.decode()

    select = page.split('name="model_groq"')[1].split("</select>")[0]
    for model in catalogue.MODELS["groq"]:
        assert f'value="{model[0]}"' in select
    assert "128K context" in select and "per M tokens" in select


def test_saving_changes_provider_model_failover_order_quotas_and_threshold(
    client_a, tenant_a, stub_provider
):
    response = client_a.post(
        _url(tenant_a),
        _valid_post(
            preferred_provider="openrouter",
            model_openrouter="openai/gpt-4o-mini",
            auto_failover=None,
            order_groq="3",
            order_openrouter="1",
            order_llm7="2",
            quota_requests_groq="500",
            quota_tokens_llm7="90000",
            quota_threshold_percent="65",
        ),
    )

    config = Tenant.objects.get(pk=tenant_a.pk).config
    assert response.status_code == 302
    assert config.preferred_provider == "openrouter"
    assert config.model_for("openrouter") == "openai/gpt-4o-mini"
    assert config.auto_failover is False
    assert config.candidate_order() == ["openrouter", "llm7", "groq"]
    assert config.daily_quota("groq").requests == 500
    assert config.daily_quota("llm7").tokens == 90000
    assert config.quota_threshold == pytest.approx(0.65)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"quota_threshold_percent": "250"}, "quota_threshold_percent"),
        ({"quota_requests_groq": "-4"}, "quota_requests_groq"),
        ({"model_groq": "no-such-model"}, "model_groq"),
        ({"order_llm7": "1"}, "order_llm7"),
        ({"preferred_provider": "nosuch"}, "preferred_provider"),
    ],
)
def test_bad_input_is_reported_beside_its_field_and_nothing_changes(
    client_a, tenant_a, stub_provider, changes, field
):
    before = Tenant.objects.get(pk=tenant_a.pk).inference_config

    response = client_a.post(_url(tenant_a), _valid_post(**changes))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was saved" in page
    # "Beside": the field's own error list sits next to its input, not only atop the page.
    error_at, input_at = page.index(f'id="id_{field}_error"'), page.index(f'name="{field}"')
    assert abs(error_at - input_at) < 800
    assert Tenant.objects.get(pk=tenant_a.pk).inference_config == before


def test_saving_without_a_csrf_token_is_refused(csrf_client_a, tenant_a, stub_provider):
    before = Tenant.objects.get(pk=tenant_a.pk).inference_config

    response = csrf_client_a.post(_url(tenant_a), _valid_post(preferred_provider="llm7"))

    assert response.status_code == 403
    assert Tenant.objects.get(pk=tenant_a.pk).inference_config == before


def test_staff_of_another_tenant_get_404_and_change_nothing(client_a, tenant_b, stub_provider):
    before = Tenant.objects.get(pk=tenant_b.pk).inference_config

    assert client_a.get(_url(tenant_b)).status_code == 404
    assert client_a.post(_url(tenant_b), _valid_post(preferred_provider="llm7")).status_code == 404
    assert Tenant.objects.get(pk=tenant_b.pk).inference_config == before
