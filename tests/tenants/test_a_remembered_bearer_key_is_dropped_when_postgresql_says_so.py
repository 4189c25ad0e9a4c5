"""A valid bearer key is remembered in the process (no database read per request), and
forgotten as soon as PostgreSQL reports a change made by any other connection: once the
notification is there, a revoked key, a deactivated tenant or a changed request limit is
seen by the very next call. While the listening connection is down nothing is remembered
(tenants/key_cache.py). The server-level check (revoke, then the next HTTP request is a
401) is tests/gateway/test_the_endpoints_wire_format_and_boundaries.py."""

import time

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants import key_cache, services
from tenants.models import Tenant, TenantAPIKey

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's"),
    pytest.mark.django_db(transaction=True),  # the other connection must see committed rows
]


@pytest.fixture(autouse=True)
def fresh_listener():
    key_cache.stop()
    yield
    key_cache.stop()


@pytest.fixture
def other_connection():
    """Another session on the test database: its writes fire no signal in this process,
    exactly like a write from another server or the admin."""
    params = dict(connection.get_connection_params())
    for name in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(name, None)
    with psycopg.Connection.connect(**params, autocommit=True) as conn:
        yield conn


def listening() -> key_cache._Listener:
    found = key_cache.listener()
    assert found is not None
    deadline = time.monotonic() + 10
    while found.conn is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert found.conn is not None, "the listener did not connect"
    return found


def reads(raw: str):
    """(identity, the number of database statements it took)."""
    with CaptureQueriesContext(connection) as captured:
        found = services.api_key_identify(raw)
    return found, len(captured.captured_queries)


def remembered(tenant, name="svc", **fields):
    key, raw = services.api_key_create(tenant=tenant, name=name)
    if fields:
        TenantAPIKey.objects.filter(pk=key.pk).update(**fields)
    listening()
    assert reads(raw)[1] >= 1  # read, and remembered unless a notification came meanwhile
    # (one from the writes just made may still be on its way: it empties the cache)
    for _ in range(100):
        found, statements = reads(raw)
        assert found is not None
        if statements == 0:
            return key, raw
        time.sleep(0.01)
    raise AssertionError("the key was never remembered")


def committed_elsewhere(conn, statement: str, key, wait: float = 5.0) -> bool:
    """Run ``statement`` on the other session (it commits at once); True once its
    notification has reached this process (within ``wait`` s), whichever thread read it."""
    cache = listening()
    before = cache.generation
    conn.execute(statement, [key.pk])
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        cache.drain()
        if cache.generation != before:
            return True
        time.sleep(0.001)
    return False


def test_a_valid_key_is_read_once_then_remembered(tenant_a):
    key, raw = remembered(tenant_a, requests_per_minute=9)
    for _ in range(5):
        assert reads(raw) == (services.ApiKeyIdentity(key.pk, tenant_a.pk, 9), 0)


@pytest.mark.parametrize("change", [
    "UPDATE tenants_tenantapikey SET revoked_at = now() WHERE id = %s",
    "DELETE FROM tenants_tenantapikey WHERE id = %s",
    "UPDATE tenants SET is_active = false WHERE id = (SELECT tenant_id FROM "
    "tenants_tenantapikey WHERE id = %s)",
])
def test_a_change_by_another_connection_is_refused_on_the_very_next_call(
    tenant_a, other_connection, change
):
    for attempt in range(10):  # no race between the commit and the next call
        Tenant.objects.filter(pk=tenant_a.pk).update(is_active=True)
        key, raw = remembered(tenant_a, name=f"svc{attempt}")
        assert committed_elsewhere(other_connection, change, key), "no notification"
        assert services.api_key_identify(raw) is None, attempt


def test_a_new_request_limit_is_seen_on_the_next_call(tenant_a, other_connection):
    key, raw = remembered(tenant_a)
    assert committed_elsewhere(
        other_connection, "UPDATE tenants_tenantapikey SET requests_per_minute = 3 WHERE id = %s",
        key,
    )
    assert services.api_key_identify(raw).requests_per_minute == 3


def test_the_last_use_written_elsewhere_keeps_the_key_remembered(tenant_a, other_connection):
    key, raw = remembered(tenant_a)
    # No notification for it (half a second of waiting), and nothing read again.
    assert not committed_elsewhere(
        other_connection, "UPDATE tenants_tenantapikey SET last_used_at = now() WHERE id = %s",
        key, wait=0.5,
    )
    assert reads(raw)[1] == 0


def test_a_write_in_this_process_forgets_before_it_commits(tenant_a):
    key, raw = remembered(tenant_a)
    services.api_key_revoke(key=key)
    assert services.api_key_identify(raw) is None
    _, raw = remembered(tenant_a, name="second")
    tenant_a.is_active = False
    tenant_a.save()
    assert services.api_key_identify(raw) is None


def test_while_the_listener_is_down_every_call_reads_the_database(tenant_a, other_connection):
    key, raw = remembered(tenant_a)
    backend = listening().conn.info.backend_pid
    other_connection.execute("SELECT pg_terminate_backend(%s)", [backend])
    # Nothing remembered survives a lost connection: a change during the outage cannot
    # be missed.
    deadline = time.monotonic() + 10
    while key_cache.listener().conn is not None and key_cache.listener().conn.info.backend_pid \
            == backend and time.monotonic() < deadline:
        key_cache.listener().drain()
        time.sleep(0.01)
    found, statements = reads(raw)
    assert found is not None and statements >= 1
    # It listens again on its own, and remembers again.
    listening()
    reads(raw)
    assert reads(raw) == (found, 0)


def test_turned_off_every_call_reads_the_database(tenant_a, settings):
    settings.API_KEY_CACHE = False
    _, raw = services.api_key_create(tenant=tenant_a, name="svc")
    services.api_key_identify(raw)  # the first also writes the last use
    for _ in range(3):
        found, statements = reads(raw)
        assert found is not None and statements == 1
    assert key_cache.listener() is None


def test_a_wrong_key_is_never_remembered(tenant_a):
    _, raw = remembered(tenant_a)
    wrong = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    for _ in range(3):
        assert reads(wrong) == (None, 1)
