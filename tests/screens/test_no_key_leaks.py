"""No operator screen ever carries a stored provider key or its ciphertext."""

from __future__ import annotations

import json
import logging

import pytest
from django.urls import reverse

from tenants import services
from tests.canaries import assert_no_trace

pytestmark = pytest.mark.django_db


def test_no_screen_shows_a_key_or_its_ciphertext(
    client_a, tenant_a, stub_provider, canary_keys, caplog
):
    for provider, key in canary_keys.items():
        stub_provider.accept_key(provider, key)
    services.tenant_set_tokens(tenant=tenant_a, tokens=canary_keys)
    tenant_a.refresh_from_db()
    secrets = [*canary_keys.values(), *tenant_a.llm_tokens.values()]
    caplog.set_level(logging.DEBUG)

    bodies = [
        client_a.get(reverse(name, args=args)).content.decode()
        for name, args in [
            ("screens:index", []),
            ("screens:keys", [tenant_a.pk]),
            ("screens:key_remove", [tenant_a.pk, "groq"]),
            ("screens:providers", [tenant_a.pk]),
            ("screens:usage", [tenant_a.pk]),
        ]
    ]
    for provider in canary_keys:
        bodies.append(
            client_a.post(
                reverse("screens:key_test", args=[tenant_a.pk]),
                json.dumps({"provider": provider}),
                content_type="application/json",
            ).content.decode()
        )

    assert all('"valid": true' in body for body in bodies[-3:])
    for secret in secrets:
        assert not any(secret in body for body in bodies)
        assert secret not in caplog.text


# --- Error pages and error mails ------------------------------------------------------------


@pytest.fixture
def crashing_client(staff_a):
    """A browser-like client that gets the 500 page instead of the test seeing the error."""
    from django.test import Client

    client = Client(raise_request_exception=False)
    client.force_login(staff_a)
    return client


def _crash_when_saving(monkeypatch):
    """The database goes away when the keys are written: a crash inside the key service."""
    from tenants.models import Tenant

    def save(self, *args, **kwargs):
        raise RuntimeError("the database went away while saving")

    monkeypatch.setattr(Tenant, "save", save)


def _crash_at_the_provider(monkeypatch):
    from llm_routing import http_client

    def request(method, url, **kwargs):
        raise RuntimeError("the HTTP client broke")

    monkeypatch.setattr(http_client, "request", request)  # the one HTTP seam


def test_a_crash_in_the_keys_screen_shows_no_key_on_the_debug_page(
    crashing_client, tenant_a, canary_keys, settings, monkeypatch
):
    settings.DEBUG = True
    _crash_when_saving(monkeypatch)
    post = {f"key_{provider}": key for provider, key in canary_keys.items()}

    response = crashing_client.post(reverse("screens:keys", args=[tenant_a.pk]), post)

    page = response.content.decode()
    assert response.status_code == 500
    assert "the database went away while saving" in page  # the technical page, in full
    assert response.wsgi_request.sensitive_post_parameters == "__ALL__"
    assert_no_trace(page, canary_keys.values())


@pytest.mark.parametrize("typed", [True, False])
def test_a_crash_in_a_key_test_shows_no_key_on_the_debug_page(
    crashing_client, tenant_a, canary_keys, settings, monkeypatch, typed
):
    settings.DEBUG = True
    if not typed:
        services.tenant_set_tokens(tenant=tenant_a, tokens=canary_keys)
    _crash_at_the_provider(monkeypatch)
    pages = []
    for provider, key in canary_keys.items():
        body = {"provider": provider, **({"key": key} if typed else {})}
        response = crashing_client.post(
            reverse("screens:key_test", args=[tenant_a.pk]),
            json.dumps(body),
            content_type="application/json",
        )
        assert response.status_code == 500
        pages.append(response.content.decode())
    assert all("the HTTP client broke" in page for page in pages)
    assert_no_trace("\n".join(pages), canary_keys.values())


def test_error_mails_for_a_crash_in_the_keys_screen_carry_no_key(
    crashing_client, tenant_a, canary_keys, settings, monkeypatch, mailoutbox
):
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    _crash_when_saving(monkeypatch)
    post = {f"key_{provider}": key for provider, key in canary_keys.items()}

    response = crashing_client.post(reverse("screens:keys", args=[tenant_a.pk]), post)

    assert response.status_code == 500
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    text = "\n".join([mail.subject, mail.body, *(a[1] for a in mail.alternatives)])
    assert "the database went away while saving" in text  # the report, with its traceback
    assert_no_trace(text, canary_keys.values())
