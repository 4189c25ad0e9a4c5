import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings

# The loopback stub provider and the router's controllable clock (issue 4).
pytest_plugins = ["llm_routing.stub.pytest_plugin"]


def pytest_configure(config):
    # The SQLite test database is a file under var/ (see config/settings.py).
    Path(django_settings.BASE_DIR, "var").mkdir(exist_ok=True)


def pytest_unconfigure(config):
    # The usage commands' SQLite lock files are named after this run's test database.
    for lock in Path(django_settings.BASE_DIR, "var").glob(f"test-db-{os.getpid()}.*.lock"):
        lock.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _encryption_keys(settings):
    """Every test runs with a fresh Fernet key of its own, never the developer's."""
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    settings.FIELD_ENCRYPTION_DEV_KEY_FILE = None


@pytest.fixture(autouse=True)
def _quota_leases_off(settings):
    """Routing counts every request in the shared row unless a test turns leases on
    (tests/llm_routing/test_quota_leases.py): a lease's settler thread writing beside a
    test's open transaction would wait on SQLite's write lock."""
    from llm_routing import fallback, leases

    settings.LLM_ROUTING_LEASE_SIZE = 0
    leases.forget()
    # An outage another test left behind (a real one under load, or a planted one) would
    # make this test's state writes wait for a probe: every test starts with none.
    fallback.forget()
    yield
    leases.forget()
    fallback.forget()


@pytest.fixture(autouse=True)
def _budget_leases_off(settings):
    """Budgets write every reservation and settlement at once unless a test turns leases
    on (as for quota leases: a settler thread writing beside a test's open transaction)."""
    from usage import budgets

    settings.USAGE_BUDGET_LEASE_SECONDS = 0
    budgets.forget()
    yield
    budgets.forget()


@pytest.fixture(autouse=True)
def _budget_alerts_delivered_by_hand(settings):
    """Budget alerts are delivered when a test says so (``deliver_pending``), not by a
    background thread reading the database beside a test's open transaction; a test of
    that thread turns it on."""
    settings.USAGE_BUDGET_ALERTS_IN_BACKGROUND = False


@pytest.fixture(autouse=True)
def _bearer_keys_forgotten():
    """Keys remembered in an earlier test (whose rows were rolled back) are forgotten; the
    listening connection itself stays up between tests (tenants/key_cache.py)."""
    from tenants import key_cache

    key_cache.forget()
    yield
    key_cache.forget()


@pytest.fixture(scope="session", autouse=True)
def _key_cache_listener_closed(django_db_setup, django_db_blocker):
    """The key cache's listening connection is closed before the test database is dropped
    (PostgreSQL refuses to drop a database a session is connected to)."""
    yield
    from tenants import key_cache

    key_cache.stop()
