import uuid
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tenants.models import TenantMembership
from usage.models import Price
from usage.records import build
from usage.summary import refresh_summary
from usage.writer import write_records

LIST = reverse("admin:usage_modelusagestat_changelist")


def _write(tenant, count, model="llama-3.3-70b-versatile"):
    at = datetime(2025, 6, 1, 10, tzinfo=UTC)
    write_records([
        build(tenant_id=tenant.pk, provider="groq", model=model, status="success",
              request_id=uuid.uuid4(), attempt=1, prompt_tokens=1, completion_tokens=1,
              latency_ms=1, created_at=at)
        for _ in range(count)
    ])


@pytest.fixture
def staff_of(db):
    def make(tenant):
        name = f"staff-{uuid.uuid4().hex[:8]}"
        user = User.objects.create_user(name, password="x", is_staff=True)
        user.user_permissions.add(*Permission.objects.filter(
            codename__in=["view_modelusagestat", "view_price", "change_price"]))
        TenantMembership.objects.create(tenant=tenant, user=user)
        return user

    return make


def test_staff_see_only_their_tenants_rows_and_no_count_of_the_table(client, staff_of,
                                                                      make_tenant):
    mine, theirs = make_tenant(), make_tenant()
    _write(mine, 3)
    _write(theirs, 4, model="qwen/qwen3-32b")
    refresh_summary()
    client.force_login(staff_of(mine))
    with CaptureQueriesContext(connection) as queries:
        page = client.get(LIST)
    assert page.status_code == 200
    assert page.context["cl"].result_count == 3
    html = page.content.decode()
    # Neither the other tenant nor the model only it used shows, not even in the filters.
    assert str(theirs.pk) not in html and theirs.name not in html and "qwen3" not in html
    assert not any("COUNT(*)" in q["sql"].upper() for q in queries.captured_queries)
    # Another tenant's id in the filter is ignored, not honoured.
    assert client.get(LIST, {"tenant": str(theirs.pk)}).context["cl"].result_count == 3


def test_the_filters_narrow_the_list(admin_client, make_tenant):
    tenant = make_tenant()
    _write(tenant, 2)
    _write(tenant, 5, model="qwen/qwen3-32b")
    refresh_summary()
    assert admin_client.get(LIST, {"provider": "groq"}).context["cl"].result_count == 7
    from usage.models import ProviderModel

    model_id = ProviderModel.objects.get(name="qwen/qwen3-32b").pk
    assert admin_client.get(LIST, {"model": str(model_id)}).context["cl"].result_count == 5
    assert admin_client.get(LIST, {"status__exact": "2"}).context["cl"].result_count == 0
    assert admin_client.get(LIST, {"tenant": str(tenant.pk)}).context["cl"].result_count == 7


def test_usage_rows_cannot_be_added_changed_or_deleted(admin_client, make_tenant):
    assert admin_client.get(reverse("admin:usage_modelusagestat_add")).status_code == 403


def test_a_bad_price_gets_a_form_error_and_changes_nothing(admin_client):
    before = Price.objects.count()
    page = admin_client.post(reverse("admin:usage_price_add"), {
        "provider": "groq", "model": "m", "input_per_million": "-1",
        "output_per_million": "abc", "effective_from_0": "2025-01-01",
        "effective_from_1": "00:00:00", "source": "",
    })
    assert page.status_code == 200 and page.context["adminform"].form.errors
    assert Price.objects.count() == before
