"""Helpers shared by the tenants tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import json
import secrets
import string

from django.test import Client

from tenants.models import Tenant

_ALNUM = string.ascii_letters + string.digits


def make_key(provider: str) -> str:
    """A random, well-formed key for ``provider``."""
    if provider == "groq":
        return "gsk_" + "".join(secrets.choice(_ALNUM) for _ in range(52))
    if provider == "openrouter":
        return "sk-or-v1-" + secrets.token_hex(32)
    return "".join(secrets.choice(_ALNUM) for _ in range(40))


def key_traces(key: str) -> list[str]:
    """The key and every 12-character slice of it: none may appear where keys must not."""
    return [key] + [key[i : i + 12] for i in range(0, len(key) - 11)]


def assert_no_trace(text: str, keys) -> None:
    for key in keys:
        for trace in key_traces(key):
            assert trace not in text, "a provider key (or a slice of it) leaked"


def url(tenant_or_id, endpoint: str) -> str:
    tenant_id = getattr(tenant_or_id, "pk", tenant_or_id)
    return f"/api/tenants/{tenant_id}/{endpoint}"


def put_json(client: Client, path: str, body, **extra):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.put(path, data, content_type="application/json", **extra)


def row_of(tenant: Tenant) -> dict:
    """Every column of the tenant's row, as stored."""
    return Tenant.objects.filter(pk=tenant.pk).values().get()
