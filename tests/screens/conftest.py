"""Fixtures for the operator screens: two tenants, their staff, a superuser, canary keys."""

from __future__ import annotations

import shutil

import pytest
from django.contrib.auth import get_user_model

from tenants.models import Tenant, TenantMembership
from tests import canaries


@pytest.fixture
def canary_keys() -> dict[str, str]:
    """Well-formed keys made at run time, so a leak of any of them can be searched for."""
    return canaries.canary_keys()


@pytest.fixture
def tenant_a(db) -> Tenant:
    return Tenant.objects.create(name="Alpha Ltd", slug="alpha", timezone="Europe/Paris")


@pytest.fixture
def tenant_b(db) -> Tenant:
    return Tenant.objects.create(name="Beta GmbH", slug="beta", timezone="America/New_York")


def _user(username: str, **flags):
    return get_user_model().objects.create_user(
        username=username, password="pw-" + username, is_staff=True, **flags
    )


@pytest.fixture
def staff_a(tenant_a):
    """A staff user who administers tenant A only (no model permissions at all)."""
    user = _user("staff-a")
    TenantMembership.objects.create(tenant=tenant_a, user=user)
    return user


@pytest.fixture
def superuser(db):
    return _user("root", is_superuser=True)


@pytest.fixture
def client_a(client, staff_a):
    client.force_login(staff_a)
    return client


@pytest.fixture
def csrf_client_a(staff_a):
    """A client that enforces CSRF like a browser would (the test client skips it by default)."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_a)
    return client


@pytest.fixture
def chromium():
    """A headless Chromium for one test; skipped with a clear message when it is missing."""
    from tests.screens.browser import start_chromium

    driver, profile = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
