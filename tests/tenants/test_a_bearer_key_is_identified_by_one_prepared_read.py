"""``api_key_identify`` (the OpenAI-compatible endpoint's key check) answers exactly as
``api_key_authenticate`` does, on both databases, from one raw statement that PostgreSQL
prepares once it runs often: a revoked key or a deactivated tenant is refused on the very
next call, and the last use is written at most once a minute."""

import datetime as dt
import uuid

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from tenants import key_cache, services
from tenants.models import TenantAPIKey


def test_an_active_key_is_its_tenant_and_limit(tenant_a, tenant_b):
    key, raw = services.api_key_create(tenant=tenant_a, name="svc")
    TenantAPIKey.objects.filter(pk=key.pk).update(requests_per_minute=7)
    services.api_key_create(tenant=tenant_b, name="other")
    found = services.api_key_identify(raw)
    assert found == services.ApiKeyIdentity(key.pk, tenant_a.pk, 7)
    assert isinstance(found.tenant_id, uuid.UUID)


@pytest.mark.parametrize("mangle", [
    lambda raw: raw[:-1] + ("A" if raw[-1] != "A" else "B"),  # right prefix, wrong secret
    lambda raw: "tk_" + "0" * 12 + raw[len("tk_") + 12:],  # unknown prefix
    lambda raw: raw.replace("tk_", "sk_", 1),
    lambda raw: "tk_",
    lambda raw: "",
])
def test_a_wrong_key_is_nobody(tenant_a, mangle):
    _, raw = services.api_key_create(tenant=tenant_a, name="svc")
    assert services.api_key_identify(mangle(raw)) is None


def test_a_revoked_key_or_an_inactive_tenant_is_refused_on_the_next_call(tenant_a):
    key, raw = services.api_key_create(tenant=tenant_a, name="svc")
    for _ in range(10):  # often enough for PostgreSQL to have prepared the statement
        assert services.api_key_identify(raw) is not None
    tenant_a.is_active = False
    tenant_a.save()
    assert services.api_key_identify(raw) is None
    tenant_a.is_active = True
    tenant_a.save()
    assert services.api_key_identify(raw) is not None
    services.api_key_revoke(key=key)
    assert services.api_key_identify(raw) is None


def test_the_last_use_is_written_at_most_once_a_minute(tenant_a):
    key, raw = services.api_key_create(tenant=tenant_a, name="svc")
    services.api_key_identify(raw)
    first = TenantAPIKey.objects.get(pk=key.pk).last_used_at
    assert first is not None and timezone.now() - first < dt.timedelta(seconds=10)
    services.api_key_identify(raw)
    assert TenantAPIKey.objects.get(pk=key.pk).last_used_at == first
    stale = timezone.now() - dt.timedelta(minutes=2)
    TenantAPIKey.objects.filter(pk=key.pk).update(last_used_at=stale)
    # A key remembered by the process (tenants/key_cache.py) keeps the time it last wrote;
    # a minute later it writes again. The stale row stands for that minute here.
    key_cache.forget()
    services.api_key_identify(raw)
    assert TenantAPIKey.objects.get(pk=key.pk).last_used_at > stale + dt.timedelta(minutes=1)


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="prepared statements are a PostgreSQL matter")
def test_the_lookup_is_prepared_on_postgresql_once_it_runs_often(tenant_a, settings):
    # The read itself, as it runs with the key cache off or its listener down.
    settings.API_KEY_CACHE = False
    _, raw = services.api_key_create(tenant=tenant_a, name="svc")
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute("DEALLOCATE ALL")  # psycopg forgets its own names too
    threshold = connection.connection.prepare_threshold
    assert threshold is not None, "config/settings.py sets DB_PREPARE_THRESHOLD (default 5)"
    for _ in range(threshold + 1):
        assert services.api_key_identify(raw) is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    assert len([s for s in statements if "k.key_hash" in s]) == 1
