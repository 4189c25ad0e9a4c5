"""Issue 8: one throttle for every key-test path (the API's and the operator screen's),
counted per principal and per tenant; a refused test is a 429 with Retry-After that calls no
provider and records nothing."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.urls import reverse

from tenants import services
from tenants.models import Tenant, TenantMembership
from tenants.permissions import Role

pytestmark = pytest.mark.django_db

WINDOW_START = dt.datetime(2026, 3, 2, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock_at_window_start(routing_clock):
    routing_clock.set(WINDOW_START)
    return routing_clock


@pytest.fixture
def operator_client(django_user_model):
    def make(tenant, name="ops"):
        user = django_user_model.objects.create_user(name, password="x", is_staff=True)
        TenantMembership.objects.create(tenant=tenant, user=user, role=Role.OPERATOR)
        client = Client()
        client.force_login(user)
        return client

    return make


def _screen_test(client, tenant, provider="llm7"):
    return client.post(
        reverse("screens:key_test", args=[tenant.pk]),
        json.dumps({"provider": provider}),
        content_type="application/json",
    )


def _api_test(client, tenant, provider="llm7", **extra):
    return client.post(
        f"/api/tenants/{tenant.pk}/llm-tokens/test",
        json.dumps({"provider": provider}),
        content_type="application/json",
        **extra,
    )


def _status_row(tenant):
    return Tenant.objects.get(pk=tenant.pk).llm_token_status


def test_the_screens_key_test_is_throttled_and_a_refusal_tests_and_records_nothing(
    settings, make_tenant, stub_provider, operator_client, clock_at_window_start
):
    settings.LLM_KEY_TEST_RATE_PER_MINUTE = 2
    tenant = make_tenant()
    client = operator_client(tenant)
    assert [_screen_test(client, tenant).status_code for _ in range(2)] == [200, 200]
    clock_at_window_start.advance(15)
    status_before = _status_row(tenant)

    refused = _screen_test(client, tenant)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "45"  # the rest of the minute
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "Try again in 45 s" in refused.json()["error"]["message"]
    assert stub_provider.stats()["llm7"]["requests"] == 2
    assert _status_row(tenant) == status_before
    # The next window tests again.
    clock_at_window_start.advance(45)
    assert _screen_test(client, tenant).status_code == 200


def test_the_screen_and_the_api_share_one_limit_per_user(
    settings, make_tenant, stub_provider, operator_client, clock_at_window_start
):
    settings.LLM_KEY_TEST_RATE_PER_MINUTE = 2
    tenant = make_tenant()
    client = operator_client(tenant)
    assert _screen_test(client, tenant).status_code == 200
    assert _api_test(client, tenant).status_code == 200
    assert _api_test(client, tenant).status_code == 429
    assert _screen_test(client, tenant).status_code == 429
    assert stub_provider.stats()["llm7"]["requests"] == 2


def test_many_api_keys_of_one_tenant_together_stay_within_the_tenants_limit(
    settings, make_tenant, stub_provider, clock_at_window_start
):
    settings.LLM_KEY_TEST_RATE_PER_MINUTE = 10
    settings.LLM_KEY_TEST_TENANT_RATE_PER_MINUTE = 3
    tenant, neighbour = make_tenant(slug="busy"), make_tenant(slug="quiet")
    bearers = [
        {"HTTP_AUTHORIZATION": f"Bearer {services.api_key_create(tenant=tenant, name=n)[1]}"}
        for n in ("a", "b", "c", "d", "e")
    ]
    codes = [_api_test(Client(), tenant, **bearer).status_code for bearer in bearers * 2]

    assert codes.count(200) == 3 and codes.count(429) == 7
    assert stub_provider.stats()["llm7"]["requests"] == 3
    refused = _api_test(Client(), tenant, **bearers[0])
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60
    assert "for this tenant" in refused.json()["error"]["message"]
    # Another tenant's budget is its own.
    _, raw = services.api_key_create(tenant=neighbour, name="n")
    assert _api_test(Client(), neighbour, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


def test_a_caller_past_their_own_limit_does_not_use_up_the_tenants(
    settings, make_tenant, stub_provider, operator_client, clock_at_window_start
):
    settings.LLM_KEY_TEST_RATE_PER_MINUTE = 1
    settings.LLM_KEY_TEST_TENANT_RATE_PER_MINUTE = 2
    tenant = make_tenant()
    eager, second, third = (operator_client(tenant, name) for name in ("eager", "b", "c"))
    assert [_screen_test(eager, tenant).status_code for _ in range(4)] == [200, 429, 429, 429]
    assert _screen_test(second, tenant).status_code == 200
    assert _screen_test(third, tenant).status_code == 429  # the tenant's two are spent
    assert stub_provider.stats()["llm7"]["requests"] == 2
