import logging

import pytest
from django.core.cache import cache

from tenants import services
from tenants.models import Tenant
from tests.canaries import canary_key, canary_keys  # noqa: F401  (canary_key: for the tests)


@pytest.fixture(autouse=True)
def _routing_test_defaults(settings):
    settings.USAGE_TRACKER_SYNC = True  # usage rows are written inline, so tests can count them
    settings.LLM_DEFAULT_COOLDOWN_SECONDS = 30
    cache.clear()
    _forget_usage_model_ids()
    yield
    cache.clear()


def _forget_usage_model_ids():
    # The ledger caches (provider, model) row ids per process; a test's rollback removes
    # those rows, so a cached id would point at nothing in the next test.
    from usage import writer

    writer.forget_model_ids()


@pytest.fixture
def make_tenant(db, stub_provider):
    """A tenant holding the stub's good keys for ``keys`` and the given config changes."""

    def make(slug="acme", keys=("groq", "openrouter", "llm7"), **config):
        tenant = Tenant.objects.create(name=slug.title(), slug=slug)
        keys = {p: stub_provider.good_key(p) for p in keys}
        services.tenant_set_tokens(tenant=tenant, tokens=keys)
        patch = {"failover_order": ["openrouter", "llm7"], **config}
        services.tenant_update_inference_config(tenant=tenant, patch=patch)
        return tenant

    return make


def usage_rows(tenant) -> list[tuple[str, str, int]]:
    """(provider, status, attempt) of the tenant's usage rows, in attempt order."""
    from usage.models import ModelUsageStat

    rows = ModelUsageStat.objects.filter(tenant_id=tenant.pk).select_related("model")
    return sorted(
        ((r.model.provider, r.get_status_display(), r.attempt) for r in rows),
        key=lambda row: row[2],
    )


@pytest.fixture
def canary_tenant(db, stub_provider):
    """A tenant holding a canary key of each provider's real shape (made at run time)."""
    keys = canary_keys()
    tenant = Tenant.objects.create(name="Canary", slug="canary")
    services.tenant_set_tokens(tenant=tenant, tokens=keys)
    return tenant, keys


@pytest.fixture
def all_logs(caplog):
    """Every log record at DEBUG, httpx and httpcore included (settings.LOGGING quiets them)."""
    caplog.set_level(logging.DEBUG)
    for quiet in ("httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=quiet)
    return caplog


@pytest.fixture
def local_server():
    """Starts LocalServers (tests/llm_routing/local_http.py), all closed after the test,
    and leaves no pooled connection to them behind."""
    from llm_routing import http_client
    from tests.llm_routing.local_http import LocalServer

    started: list[LocalServer] = []

    def start(serve, tls=None) -> LocalServer:
        started.append(LocalServer(serve, tls))
        return started[-1]

    http_client.reset_clients()
    yield start
    for server in started:
        server.close()
    http_client.reset_clients()
