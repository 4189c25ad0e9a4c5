"""The operator screens' landing page and the links into the screens from the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def test_staff_see_only_the_tenants_they_administer(client_a, tenant_a, tenant_b):
    page = client_a.get(reverse("screens:index")).content.decode()

    assert reverse("screens:keys", args=[tenant_a.pk]) in page
    assert str(tenant_b.pk) not in page and tenant_b.name not in page
    assert reverse("screens:usage_all") not in page


def test_superusers_see_every_tenant_and_the_cross_tenant_dashboard(
    client, superuser, tenant_a, tenant_b
):
    client.force_login(superuser)

    page = client.get(reverse("screens:index")).content.decode()

    assert tenant_a.name in page and tenant_b.name in page
    assert reverse("screens:usage_all") in page


def test_the_tenant_search_narrows_the_list(client, superuser, tenant_a, tenant_b):
    client.force_login(superuser)

    page = client.get(reverse("screens:index"), {"q": "beta"}).content.decode()

    assert tenant_b.name in page and tenant_a.name not in page


def test_a_long_tenant_list_is_paginated(client, superuser):
    Tenant.objects.bulk_create(Tenant(name=f"T{i:03d}", slug=f"t{i:03d}") for i in range(60))
    client.force_login(superuser)

    first = client.get(reverse("screens:index")).content.decode()
    second = client.get(reverse("screens:index"), {"page": "2"}).content.decode()

    assert "T000" in first and "T059" not in first
    assert "T059" in second


def test_the_admin_home_links_to_the_operator_screens(client_a):
    page = client_a.get(reverse("admin:index")).content.decode()

    assert reverse("screens:index") in page


def test_the_tenant_change_page_links_to_its_three_screens(client, superuser, tenant_a):
    client.force_login(superuser)

    page = client.get(reverse("admin:tenants_tenant_change", args=[tenant_a.pk])).content.decode()

    for name in ("screens:keys", "screens:providers", "screens:usage"):
        assert reverse(name, args=[tenant_a.pk]) in page


def test_a_search_with_a_nul_is_an_error_message_not_a_500(client_a, tenant_a):
    # PostgreSQL refuses a NUL in a query string: it must never reach the database.
    response = client_a.get(reverse("screens:index") + "?q=alp%00ha")

    assert response.status_code == 200
    assert "Search: " in response.content.decode()
    assert tenant_a.name in response.content.decode()  # the unfiltered list
