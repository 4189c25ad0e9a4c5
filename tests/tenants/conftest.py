"""Fixtures for the tenants tests: tenants, staff users, API clients and canary keys.

Canary keys are built at run time (never committed): each is well-formed for its provider
and random, so finding one anywhere it should not be is proof of a leak.
"""

from __future__ import annotations

import logging
import secrets

import pytest
from django.test import Client

from tenants import services
from tenants.models import Tenant, TenantMembership
from tenants.permissions import Role


@pytest.fixture
def make_tenant(db):
    counter = iter(range(1, 10_000))

    def factory(**fields) -> Tenant:
        n = next(counter)
        fields.setdefault("name", f"Tenant {n}")
        fields.setdefault("slug", f"tenant-{n}-{secrets.token_hex(3)}")
        return Tenant.objects.create(**fields)

    return factory


@pytest.fixture
def tenant_a(make_tenant) -> Tenant:
    return make_tenant(name="Alpha Foods", slug="alpha")


@pytest.fixture
def tenant_b(make_tenant) -> Tenant:
    return make_tenant(name="Bravo Logistics", slug="bravo")


@pytest.fixture
def staff_of(db, django_user_model):
    """A non-superuser staff user, member of ``tenants`` with ``role`` (operator by default)."""

    def factory(*tenants, username=None, role=Role.OPERATOR):
        user = django_user_model.objects.create_user(
            username=username or f"staff-{secrets.token_hex(3)}", password="x", is_staff=True
        )
        for tenant in tenants:
            TenantMembership.objects.create(tenant=tenant, user=user, role=role)
        return user

    return factory


@pytest.fixture
def staff_a(staff_of, tenant_a):
    return staff_of(tenant_a, username="staff-a")


@pytest.fixture
def client_a(staff_a) -> Client:
    client = Client()
    client.force_login(staff_a)
    return client


@pytest.fixture
def superuser_client(db, django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("root", password="x")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def api_key_for():
    """A bearer header dict for a new API key of ``tenant``."""

    def factory(tenant: Tenant) -> dict[str, str]:
        _, raw = services.api_key_create(tenant=tenant, name="service")
        return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    return factory


@pytest.fixture
def all_logs(caplog):
    """caplog at DEBUG for every logger, including those configured quieter (``django``)."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Users are logged in with force_login; a slow hasher would only slow the setup down.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
