"""The usage dashboard: its numbers are the usage rows', per tenant and period: every
status (cancelled included), tokens (cached-input and reasoning among them), cost, latency
and time to first token."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import uuid
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Avg, Count, Sum
from django.urls import reverse
from django.utils import timezone

import usage
from usage.models import ModelUsageStat
from usage.statuses import NOT_FAILED, WORDS, Status

pytestmark = pytest.mark.django_db

STATUSES = ["success"] * 6 + [s.label for s in Status if s != Status.SUCCESS]
MODELS = [
    ("groq", "llama-3.3-70b-versatile"),
    ("groq", "llama-3.1-8b-instant"),
    ("openrouter", "deepseek/deepseek-r1"),
    ("llm7", "gpt-4o-mini"),
]


@pytest.fixture(autouse=True)
def _sync_ledger(settings):
    settings.USAGE_TRACKER_SYNC = True


def _track(tenant, at, rng, **fields):
    provider, model = fields.pop("pair", rng.choice(MODELS))
    values = {
        "status": rng.choice(STATUSES),
        "prompt_tokens": rng.randint(0, 4000),
        "completion_tokens": rng.randint(0, 900),
        "latency_ms": rng.randint(40, 9000),
        "ttft_ms": rng.choice([None, rng.randint(20, 4000)]),  # streamed or read whole
        "provider_cost": Decimal(rng.randint(1, 9999)) / 10**6
        if provider == "openrouter"
        else None,
    }
    # Token classes drawn from the counts (no random draw: the other figures stay the same).
    values["cached_tokens"] = values["prompt_tokens"] // 4
    values["reasoning_tokens"] = values["completion_tokens"] // 5
    values.update(fields)
    usage.track(
        tenant_id=tenant.pk,
        provider=provider,
        model=model,
        request_id=uuid.uuid4(),
        attempt=1,
        created_at=at,
        **values,
    )


def _spread(tenant, rng, count, *, hours_back=20):
    now = timezone.now()
    for _ in range(count):
        _track(tenant, now - dt.timedelta(minutes=rng.randint(1, hours_back * 60)), rng)


def _chart(page: str, name: str) -> dict:
    found = re.search(
        rf'<script id="chart-{name}" type="application/json">(.*?)</script>', page, re.S
    )
    return json.loads(found.group(1))


def _latency_cell(page: str, provider: str, field: str) -> str:
    table = page.split('id="table-latency"')[1].split("</table>")[0]
    row = table.split(f'data-provider="{provider}"')[1].split("</tr>")[0]
    return re.search(rf'data-field="{field}">([^<]*)<', row).group(1).strip()


def _cell(page: str, provider: str, model: str, field: str) -> str:
    row = page.split(f'data-provider="{provider}" data-model="{model}"')[1].split("</tr>")[0]
    return _field(row, field)


def _field(row: str, field: str) -> str:
    """A cell's exact figure: its data-value when it has one (costs are shown rounded to
    significant digits), else its text."""
    cell = re.search(rf'data-field="{field}"(?: data-value="([^"]*)")?>([^<]*)<', row)
    return (cell.group(1) if cell.group(1) is not None else cell.group(2)).strip()


def test_the_dashboard_numbers_equal_the_usage_rows(client_a, tenant_a, tenant_b):
    rng = random.Random(5)
    _spread(tenant_a, rng, 120)
    call_command("refresh_usage_summary", verbosity=0)  # half summarised, half raw tail
    _spread(tenant_a, rng, 80)
    _spread(tenant_b, rng, 50)  # another tenant's rows never count
    _track(tenant_a, timezone.now() - dt.timedelta(days=3), rng)  # outside the 24 h

    response = client_a.get(reverse("screens:usage", args=[tenant_a.pk]), {"period": "24h"})

    page = response.content.decode()
    start = response.context["period"].start
    rows = ModelUsageStat.objects.filter(tenant_id=tenant_a.pk, created_at__gte=start)
    assert rows.count() == 200
    requests = _chart(page, "requests")
    by_status = {s["key"]: sum(s["values"]) for s in requests["series"]}
    expected = dict(rows.values_list("status").annotate(n=Count("id")).order_by())
    assert by_status == {Status(code).label: n for code, n in expected.items()}
    assert expected[Status.CANCELLED] > 0  # the data has every status
    table = page.split('id="table-series"')[1].split("</table>")[0]
    assert all(f">{WORDS[s]}</th>" in table for s in Status)
    for provider, streamed, ttft_avg in rows.filter(ttft_ms__isnull=False).values_list(
        "model__provider"
    ).annotate(n=Count("id"), avg=Avg("ttft_ms")).order_by():
        assert int(_latency_cell(page, provider, "streamed")) == streamed
        assert int(_latency_cell(page, provider, "ttft_avg_ms")) == round(ttft_avg)
    for pair in rows.values("model__provider", "model__name").annotate(
        n=Count("id"), p=Sum("prompt_tokens"), c=Sum("completion_tokens"), cost=Sum("cost_pusd"),
        cached=Sum("cached_tokens"), reasoning=Sum("reasoning_tokens"),
    ):
        provider, model = pair["model__provider"], pair["model__name"]
        assert int(_cell(page, provider, model, "requests")) == pair["n"]
        assert int(_cell(page, provider, model, "cached_tokens")) == (pair["cached"] or 0) > 0
        assert int(_cell(page, provider, model, "reasoning_tokens")) == (pair["reasoning"] or 0)
        assert int(_cell(page, provider, model, "prompt_tokens")) == pair["p"]
        assert int(_cell(page, provider, model, "completion_tokens")) == pair["c"]
        assert (
            Decimal(_cell(page, provider, model, "cost_usd")) == Decimal(pair["cost"] or 0) / 10**12
        )
        token_row = next(
            r for r in _chart(page, "tokens")["rows"] if r["label"] == f"{provider} · {model}"
        )
        assert token_row["values"] == [pair["p"], pair["c"]]
    total_cost = Decimal(rows.aggregate(s=Sum("cost_pusd"))["s"]) / 10**12
    assert sum(
        Decimal(str(v)) for v in _chart(page, "cost-time")["series"][0]["values"]
    ) == pytest.approx(total_cost)


def test_latency_percentiles_per_provider_come_from_that_providers_rows(client_a, tenant_a):
    rng = random.Random(7)
    for latency in [100] * 50 + [2000] * 50:
        _track(
            tenant_a,
            timezone.now() - dt.timedelta(minutes=5),
            rng,
            pair=("llm7", "gpt-4o-mini"),
            latency_ms=latency,
            status="success",
        )
    _track(
        tenant_a,
        timezone.now() - dt.timedelta(minutes=5),
        rng,
        pair=("groq", "llama-3.1-8b-instant"),
        latency_ms=40,
        status="success",
    )

    response = client_a.get(reverse("screens:usage", args=[tenant_a.pk]))

    by_provider = {r["provider"]: r for r in response.context["figures"]["by_provider"]}
    assert by_provider["llm7"]["latency_p50_ms"] <= 100 < by_provider["llm7"]["latency_p95_ms"]
    assert by_provider["groq"]["latency_p95_ms"] <= 50


def test_time_to_first_token_percentiles_per_provider_come_from_its_streamed_rows(
    client_a, tenant_a
):
    rng = random.Random(9)
    now = timezone.now() - dt.timedelta(minutes=5)
    for ttft in [100] * 50 + [2000] * 50:
        _track(tenant_a, now, rng, pair=("groq", "llama-3.1-8b-instant"), ttft_ms=ttft,
               latency_ms=5000, status="success")
    for _ in range(30):  # read whole: no TTFT, so no part of the percentiles
        _track(tenant_a, now, rng, pair=("groq", "llama-3.1-8b-instant"), ttft_ms=None,
               latency_ms=40, status="success")
    _track(tenant_a, now, rng, pair=("llm7", "gpt-4o-mini"), ttft_ms=None, status="success")

    response = client_a.get(reverse("screens:usage", args=[tenant_a.pk]))

    page = response.content.decode()
    groq = {r["provider"]: r for r in response.context["figures"]["by_provider"]}["groq"]
    assert groq["streamed"] == 100 and groq["ttft_avg_ms"] == 1050
    assert groq["ttft_p50_ms"] <= 100 < 1500 < groq["ttft_p95_ms"] <= 2000
    assert _latency_cell(page, "groq", "ttft_p95_ms") == str(groq["ttft_p95_ms"])
    assert _latency_cell(page, "llm7", "ttft_p50_ms") == "–"
    chart = _chart(page, "ttft")
    assert [r["label"] for r in chart["rows"]] == ["Groq"]
    assert chart["rows"][0]["values"] == [groq["ttft_p50_ms"], groq["ttft_p95_ms"]]


def test_a_cancelled_stream_counts_as_neither_success_nor_failure(client_a, tenant_a):
    rng = random.Random(4)
    now = timezone.now() - dt.timedelta(minutes=5)
    for status in ("success", "cancelled", "cancelled", "timeout"):
        _track(tenant_a, now, rng, pair=("groq", "llama-3.1-8b-instant"), status=status)

    response = client_a.get(reverse("screens:usage", args=[tenant_a.pk]))

    figures = response.context["figures"]["all"]
    assert (figures["requests"], figures["successes"], figures["cancelled"]) == (4, 1, 2)
    assert figures["failed"] == 1 and figures["other_failures"] == 1
    assert "2 cancelled by the caller" in response.content.decode()


def test_a_custom_range_is_read_in_the_tenants_time_zone(client_a, tenant_a):
    rng = random.Random(3)
    paris = dt.timezone(dt.timedelta(hours=1))  # Europe/Paris in January
    late_evening = dt.datetime(2026, 1, 10, 23, 30, tzinfo=paris)  # 22:30 UTC, still the 10th
    _track(tenant_a, late_evening, rng, status="success")
    url = reverse("screens:usage", args=[tenant_a.pk])

    tenth = client_a.get(url, {"period": "custom", "start": "2026-01-10", "end": "2026-01-10"})
    eleventh = client_a.get(url, {"period": "custom", "start": "2026-01-11", "end": "2026-01-11"})

    assert tenth.context["figures"]["all"]["requests"] == 1
    assert eleventh.context["figures"]["all"]["requests"] == 0
    assert tenth.context["period"].bucket == "hour"
    assert len(tenth.context["period"].buckets()) == 24


def test_a_thirty_day_view_has_one_bucket_per_local_day(client_a, tenant_a):
    response = client_a.get(reverse("screens:usage", args=[tenant_a.pk]), {"period": "30d"})

    assert response.context["period"].bucket == "day"
    assert len(_chart(response.content.decode(), "requests")["x"]) == 30


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "custom", "start": "2026-02-10", "end": "2026-02-01"}, "end"),
        ({"period": "custom", "start": "2026-02-30", "end": "2026-03-01"}, "start"),
        ({"period": "custom", "end": "2026-03-01"}, "start"),
        ({"period": "fortnight"}, "period"),
    ],
)
def test_a_bad_period_is_reported_beside_its_field_and_the_default_is_shown(
    client_a, tenant_a, params, field
):
    response = client_a.get(reverse("screens:usage", args=[tenant_a.pk]), params)

    page = response.content.decode()
    assert response.status_code == 200
    assert f'id="id_{field}_error"' in page
    assert response.context["period"].key == "24h"


def test_the_dashboard_shows_rate_limit_status_and_ledger_health_to_a_superuser(
    client, superuser, tenant_a
):
    client.force_login(superuser)
    page = client.get(reverse("screens:usage", args=[tenant_a.pk])).content.decode()

    limits = page.split('id="table-limits"')[1].split("</table>")[0]
    for label in ("Groq", "OpenRouter", "LLM7"):
        assert label in limits
    assert "14400" in limits  # Groq's default daily request quota
    health = page.split('id="ledger-health"')[1].split("</dl>")[0]
    assert "Buffered" in health and "Spilled" in health and "Last flush" in health
    across = client.get(reverse("screens:usage_all")).content.decode()
    assert 'id="ledger-health"' in across


def test_tenant_staff_see_their_rate_limits_but_not_the_process_wide_ledger_counters(
    client_a, tenant_a, tenant_b
):
    # The writer's counters count every tenant's records, so they would tell tenant A's
    # staff about tenant B's traffic: only superusers get them.
    rng = random.Random(5)
    _spread(tenant_b, rng, 3)
    page = client_a.get(reverse("screens:usage", args=[tenant_a.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="table-limits"' in html
    assert 'id="ledger-health"' not in html and "Usage ledger health" not in html
    assert page.context["ledger"] is None


def test_staff_of_another_tenant_get_404(client_a, tenant_b):
    assert client_a.get(reverse("screens:usage", args=[tenant_b.pk])).status_code == 404


def test_only_superusers_see_usage_across_tenants(client, client_a, superuser, tenant_a, tenant_b):
    rng = random.Random(11)
    _spread(tenant_a, rng, 7)
    _spread(tenant_b, rng, 5)

    assert client_a.get(reverse("screens:usage_all")).status_code == 404
    client.force_login(superuser)
    response = client.get(reverse("screens:usage_all"))

    assert response.status_code == 200
    assert response.context["figures"]["all"]["requests"] == 12
    assert 'id="table-limits"' not in response.content.decode()


def test_a_zero_latency_is_shown_as_zero_not_as_missing(client_a, tenant_a):
    _track(
        tenant_a,
        timezone.now() - dt.timedelta(minutes=3),
        random.Random(1),
        pair=("llm7", "gpt-4o-mini"),
        latency_ms=0,
        status="success",
    )

    page = client_a.get(reverse("screens:usage", args=[tenant_a.pk])).content.decode()

    assert _latency_cell(page, "llm7", "requests") == "1"
    assert _latency_cell(page, "llm7", "latency_avg_ms") == "0"
    assert _latency_cell(page, "llm7", "ttft_p50_ms") == "–"  # not streamed: no TTFT


def _tenant_cell(page: str, tenant, field: str) -> str:
    row = page.split(f'data-tenant="{tenant.pk}"')[1].split("</tr>")[0]
    return _field(row, field)


def test_the_per_tenant_table_equals_each_tenants_rows_and_links_to_its_dashboard(
    client, superuser, tenant_a, tenant_b
):
    from tenants.models import Tenant

    idle = Tenant.objects.create(name="Idle Co", slug="idle", timezone="Asia/Tokyo")
    rng = random.Random(13)
    # Over several UTC days, so whole days come from the day rows and the rest from hours
    # and from the raw rows the summary has not reached yet.
    _spread(tenant_a, rng, 90, hours_back=24 * 20)
    _spread(tenant_b, rng, 40, hours_back=24 * 20)
    call_command("refresh_usage_summary", verbosity=0)
    _spread(tenant_a, rng, 30, hours_back=24 * 20)
    _spread(tenant_b, rng, 20, hours_back=30)
    client.force_login(superuser)

    response = client.get(reverse("screens:usage_all"), {"period": "30d"})

    page = response.content.decode()
    start = response.context["period"].start
    for tenant in (tenant_a, tenant_b):
        rows = ModelUsageStat.objects.filter(tenant_id=tenant.pk, created_at__gte=start)
        raw = rows.aggregate(
            n=Count("id"), p=Sum("prompt_tokens"), c=Sum("completion_tokens"), cost=Sum("cost_pusd")
        )
        limited = rows.filter(status=Status.RATE_LIMITED).count()
        errors = rows.exclude(status__in=[*NOT_FAILED, Status.RATE_LIMITED]).count()
        assert int(_tenant_cell(page, tenant, "requests")) == raw["n"]
        assert int(_tenant_cell(page, tenant, "rate_limited")) == limited
        assert int(_tenant_cell(page, tenant, "errors")) == errors
        assert int(_tenant_cell(page, tenant, "total_tokens")) == raw["p"] + raw["c"]
        assert Decimal(_tenant_cell(page, tenant, "cost_usd")) == Decimal(raw["cost"] or 0) / 10**12
        link = reverse("screens:usage", args=[tenant.pk]) + "?period=30d"
        assert f'href="{link}">{tenant.name}</a>' in page
    assert f'data-tenant="{idle.pk}"' not in page
    assert sum(r["requests"] for r in response.context["figures"]["by_tenant"]) == (
        response.context["figures"]["all"]["requests"]
    )
    assert 'id="all-tenants-clock"' in page and "(UTC)" in page


def test_a_tenants_p95_across_tenants_is_the_one_its_own_dashboard_shows(
    client, superuser, client_a, tenant_a, tenant_b
):
    rng = random.Random(17)
    _spread(tenant_a, rng, 60)
    _spread(tenant_b, rng, 25)
    call_command("refresh_usage_summary", verbosity=0)
    _spread(tenant_a, rng, 15)
    client.force_login(superuser)

    across = client.get(reverse("screens:usage_all"), {"period": "24h"}).context["figures"]
    own = client_a.get(reverse("screens:usage", args=[tenant_a.pk]), {"period": "24h"})

    [row] = [r for r in across["by_tenant"] if r["tenant"] == tenant_a]
    assert row["requests"] == own.context["figures"]["all"]["requests"] == 75
    assert row["latency_p95_ms"] == own.context["figures"]["all"]["latency_p95_ms"]
    assert 'id="table-tenants"' not in own.content.decode()


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12", "UTC"])
@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("9999-12-31", "9999-12-31", "end"),
        ("9998-12-30", "9999-01-01", "end"),
        ("0001-01-01", "0001-01-01", "start"),
        ("0001-01-01", "0001-01-05", "start"),
        ("1969-12-31", "1970-01-01", "start"),
    ],
)
def test_dates_at_the_calendars_edges_are_a_form_error_in_any_time_zone(
    client_a, tenant_a, zone, start, end, field
):
    tenant_a.timezone = zone
    tenant_a.save()
    params = {"period": "custom", "start": start, "end": end}

    response = client_a.get(reverse("screens:usage", args=[tenant_a.pk]), params)

    assert response.status_code == 200
    assert f'id="id_{field}_error"' in response.content.decode()
    assert response.context["period"].key == "24h"


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12"])
@pytest.mark.parametrize(
    ("start", "end"), [("1970-01-01", "1970-01-02"), ("9998-12-01", "9998-12-31")]
)
def test_the_first_and_last_dates_allowed_show_a_dashboard(client_a, tenant_a, zone, start, end):
    tenant_a.timezone = zone
    tenant_a.save()
    params = {"period": "custom", "start": start, "end": end}

    response = client_a.get(reverse("screens:usage", args=[tenant_a.pk]), params)

    assert response.status_code == 200
    assert response.context["period"].key == "custom"
    assert response.context["figures"]["all"]["requests"] == 0


def test_the_all_tenants_view_refuses_the_calendars_last_day(client, superuser, tenant_a):
    client.force_login(superuser)
    params = {"period": "custom", "start": "9999-12-31", "end": "9999-12-31"}

    response = client.get(reverse("screens:usage_all"), params)

    assert response.status_code == 200
    assert 'id="id_end_error"' in response.content.decode()
