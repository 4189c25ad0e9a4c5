"""Issue 5: the read-only usage-row list selects related rows (tenant, model) in the same
query, so a page of 100 rows across many tenants and models costs no more queries than a
page of one row; and the date filter narrows the list."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tenants.models import Tenant
from usage.records import build
from usage.writer import write_records

pytestmark = pytest.mark.django_db

LIST = reverse("admin:usage_modelusagestat_changelist")


def _write(tenant, model, at, count=1):
    write_records([
        build(tenant_id=tenant.pk, provider="groq", model=model, status="success",
              request_id=uuid.uuid4(), attempt=1, prompt_tokens=1, completion_tokens=1,
              latency_ms=1, created_at=at)
        for _ in range(count)
    ])


def _queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST)
        assert response.status_code == 200
        response.content  # noqa: B018  (rendered: every row's tenant and model are used)
    return len(queries.captured_queries)


def test_a_full_page_of_rows_costs_the_same_queries_as_one_row(admin_client):
    at = datetime.now(UTC) - timedelta(hours=1)
    first = Tenant.objects.create(name="T0", slug="t0")
    _write(first, "model-0", at)
    one_row = _queries(admin_client)

    for i in range(1, 25):
        tenant = Tenant.objects.create(name=f"T{i}", slug=f"t{i}")
        for j in range(4):
            _write(tenant, f"model-{i}-{j}", at)
    many_rows = _queries(admin_client)
    # The filters list known tenants and models from their own small tables (one query
    # each, whatever their number); the rows themselves add nothing per row.
    assert many_rows == one_row


def test_the_date_filter_narrows_the_list(admin_client):
    tenant = Tenant.objects.create(name="T", slug="t")
    day = datetime(2025, 6, 1, tzinfo=UTC)
    _write(tenant, "m", day + timedelta(hours=10), count=3)
    _write(tenant, "m", day - timedelta(days=40), count=2)
    response = admin_client.get(LIST, {
        "created_at__gte": day.isoformat(),
        "created_at__lt": (day + timedelta(days=1)).isoformat(),
    })
    assert response.status_code == 200
    assert response.context["cl"].result_count == 3
    assert admin_client.get(LIST).context["cl"].result_count == 5
