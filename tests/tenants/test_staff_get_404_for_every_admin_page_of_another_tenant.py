"""Issue 2, acceptance 4: staff of tenant A get a 404 (not a redirect, not a 403) for every
admin page of tenant B's rows: the tenant, its API keys and its usage rows; and the same
404 as for an id that does not exist at all, so nothing tells the two apart.
"""

import uuid
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission

from tenants import services
from tenants.models import TenantAPIKey
from tests.tenants.helpers import make_key, row_of
from usage.models import ModelUsageStat
from usage.records import build
from usage.writer import write_records

pytestmark = pytest.mark.django_db

PAGES = ["change", "history", "delete"]


@pytest.fixture
def tenant_b_rows(tenant_b):
    services.tenant_set_tokens(tenant=tenant_b, tokens={"groq": make_key("groq")})
    key, _ = services.api_key_create(tenant=tenant_b, name="bravo-billing")
    at = datetime(2025, 6, 1, 10, tzinfo=UTC)
    write_records([
        build(tenant_id=tenant_b.pk, provider="groq", model="llama-3.3-70b-versatile",
              status="success", request_id=uuid.uuid4(), attempt=1, prompt_tokens=3,
              completion_tokens=4, latency_ms=5, created_at=at)
    ])
    usage_row = ModelUsageStat.objects.get(tenant=tenant_b)
    tenant_b.refresh_from_db()
    return {
        "tenants/tenant": tenant_b.pk,
        "tenants/tenantapikey": key.pk,
        "usage/modelusagestat": usage_row.pk,
    }


@pytest.fixture
def staff_client_a(client_a, staff_a):
    # Usage rows are visible to staff who hold the view permission (not in the default group).
    staff_a.user_permissions.add(Permission.objects.get(codename="view_modelusagestat"))
    return client_a


def _missing_id(model_path: str, real_pk):
    return uuid.uuid4() if isinstance(real_pk, uuid.UUID) else 987_654_321


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("model_path", ["tenants/tenant", "tenants/tenantapikey",
                                        "usage/modelusagestat"])
def test_another_tenants_row_is_a_404_like_a_missing_one(
    staff_client_a, tenant_b_rows, model_path, page
):
    pk = tenant_b_rows[model_path]
    other = staff_client_a.get(f"/admin/{model_path}/{pk}/{page}/")
    missing = staff_client_a.get(f"/admin/{model_path}/{_missing_id(model_path, pk)}/{page}/")
    assert other.status_code == 404, (model_path, page, other.status_code)
    assert missing.status_code == 404
    assert "Bravo" not in other.content.decode()
    assert "bravo-billing" not in other.content.decode()


@pytest.mark.parametrize("page", ["change", "delete"])
def test_posting_to_another_tenants_pages_is_a_404_and_changes_nothing(
    staff_client_a, tenant_b, tenant_b_rows, page
):
    before = row_of(tenant_b)
    keys_before = list(TenantAPIKey.objects.filter(tenant=tenant_b).values())
    for model_path in ("tenants/tenant", "tenants/tenantapikey"):
        response = staff_client_a.post(
            f"/admin/{model_path}/{tenant_b_rows[model_path]}/{page}/",
            {"post": "yes", "name": "Hijacked", "slug": "bravo", "timezone": "UTC"},
        )
        assert response.status_code == 404
    assert row_of(tenant_b) == before
    assert list(TenantAPIKey.objects.filter(tenant=tenant_b).values()) == keys_before


def test_the_staff_users_own_rows_still_open(staff_client_a, tenant_a):
    # Guards the test above against passing because every page is a 404.
    key, _ = services.api_key_create(tenant=tenant_a, name="alpha-billing")
    assert staff_client_a.get(f"/admin/tenants/tenant/{tenant_a.pk}/change/").status_code == 200
    assert staff_client_a.get(f"/admin/tenants/tenantapikey/{key.pk}/change/").status_code == 200
