"""No operator screen ever carries a stored provider key or its ciphertext."""

from __future__ import annotations

import json
import logging

import pytest
from django.urls import reverse

from tenants import services

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
