import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from tenants.models import Tenant
from usage import selectors
from usage.records import build
from usage.summary import refresh_summary
from usage.writer import write_records


def _write(tenant, at, status="success", model="llama-3.3-70b-versatile", latency=100, count=1):
    write_records([
        build(tenant_id=tenant.pk, provider="groq", model=model, status=status,
              request_id=uuid.uuid4(), attempt=1, prompt_tokens=100, completion_tokens=50,
              latency_ms=latency, created_at=at)
        for _ in range(count)
    ])


def test_days_are_the_tenants_local_days(make_tenant):
    tokyo = make_tenant(tz="Asia/Tokyo")  # UTC+9
    _write(tokyo, datetime(2025, 6, 1, 14, 30, tzinfo=UTC))  # 23:30 on June 1st in Tokyo
    _write(tokyo, datetime(2025, 6, 1, 15, 30, tzinfo=UTC))  # 00:30 on June 2nd in Tokyo
    refresh_summary()
    series = selectors.time_series(tenants=tokyo, start=date(2025, 6, 1), end=date(2025, 6, 2))
    assert [(p["bucket"], p["requests"]) for p in series] == [
        (date(2025, 6, 1), 1), (date(2025, 6, 2), 1)]
    in_utc = selectors.time_series(tenants=tokyo, start=date(2025, 6, 1), end=date(2025, 6, 2),
                                   tz="UTC")
    assert [(p["bucket"], p["requests"]) for p in in_utc] == [(date(2025, 6, 1), 2)]


def test_a_time_series_counts_each_status_tokens_cost_and_latency(make_tenant):
    tenant = make_tenant()
    at = datetime(2025, 6, 1, 10, tzinfo=UTC)
    _write(tenant, at, latency=80, count=19)
    _write(tenant, at, status="rate_limited", latency=30)
    _write(tenant, at, model="unpriced", status="timeout", latency=30_000)
    refresh_summary()
    _write(tenant, at + timedelta(minutes=5), status="error", latency=400)  # not yet summarised
    points = {p["model"]: p for p in selectors.time_series(
        tenants=[tenant.pk], start=date(2025, 6, 1), end=date(2025, 6, 1))}
    llama = points["llama-3.3-70b-versatile"]
    assert (llama["requests"], llama["successes"], llama["rate_limited"], llama["errors"]) == (
        21, 19, 1, 1)
    assert llama["total_tokens"] == 21 * 150 and llama["cost_unknown"] == 0
    assert llama["cost_usd"] == Decimal("0.0020685")  # 21 x (100 x 0.59 + 50 x 0.79) per M
    assert llama["latency_p50_ms"] <= 100 and llama["latency_p95_ms"] <= 400
    unpriced = points["unpriced"]
    assert unpriced["timeouts"] == 1 and unpriced["cost_unknown"] == 1
    assert unpriced["cost_usd"] == 0


def test_selectors_only_read_the_tenants_they_are_given(make_tenant):
    mine, theirs = make_tenant(), make_tenant()
    at = datetime(2025, 6, 1, 10, tzinfo=UTC)
    _write(mine, at, count=2)
    _write(theirs, at, count=5)
    refresh_summary()
    total = selectors.totals(tenants=Tenant.objects.filter(pk=mine.pk), start=date(2025, 6, 1),
                             end=date(2025, 6, 1))
    assert total["all"]["requests"] == 2
    assert selectors.totals(tenants=[], start=date(2025, 6, 1), end=date(2025, 6, 1))[
        "all"]["requests"] == 0


def test_current_rates_and_last_24h_come_from_recent_raw_rows(make_tenant):
    tenant = make_tenant()
    now = datetime(2025, 6, 1, 12, tzinfo=UTC)
    _write(tenant, now - timedelta(minutes=5), count=6)
    _write(tenant, now - timedelta(minutes=5), status="rate_limited", count=3)
    _write(tenant, now - timedelta(minutes=5), status="error")
    _write(tenant, now - timedelta(hours=3), status="error", count=4)   # outside 15 minutes
    _write(tenant, now - timedelta(hours=30), count=7)                   # outside 24 hours
    rates = selectors.current_rates(tenants=tenant, now=now)
    assert rates["groq"]["requests"] == 10
    assert rates["groq"]["rate_limited_rate"] == 0.3 and rates["groq"]["error_rate"] == 0.1
    [day] = selectors.last_24h(tenants=tenant, now=now)
    assert day["tenant_id"] == tenant.pk and day["requests"] == 14 and day["errors"] == 5


def test_hourly_buckets_are_labelled_in_local_time_across_a_dst_change(make_tenant):
    paris = make_tenant(tz="Europe/Paris")  # clocks go back at 01:00 UTC on 2025-10-26
    _write(paris, datetime(2025, 10, 26, 0, 30, tzinfo=UTC))  # 02:30 CEST
    _write(paris, datetime(2025, 10, 26, 1, 30, tzinfo=UTC), count=2)  # 02:30 CET
    refresh_summary()
    series = selectors.time_series(tenants=paris, start=date(2025, 10, 26),
                                   end=date(2025, 10, 26), bucket="hour")
    assert [(p["bucket"].isoformat(), p["requests"]) for p in series] == [
        ("2025-10-26T02:00:00+02:00", 1), ("2025-10-26T02:00:00+01:00", 2)]
    [day] = selectors.time_series(tenants=paris, start=date(2025, 10, 26), end=date(2025, 10, 26))
    assert day["requests"] == 3


def _day_rows():
    from usage.aggregates import METRIC_FIELDS
    from usage.models import ModelUsageDaySummary

    return {
        (d.tenant_id, d.model_id, d.day): [getattr(d, f) for f in METRIC_FIELDS]
        for d in ModelUsageDaySummary.objects.all()
    }


def _hours_per_day():
    from usage.aggregates import METRIC_FIELDS
    from usage.models import ModelUsageSummary

    days = {}
    for h in ModelUsageSummary.objects.all():
        key = (h.tenant_id, h.model_id, h.hour.replace(hour=0))
        days[key] = [a + getattr(h, f) for a, f in zip(
            days.get(key, [0] * len(METRIC_FIELDS)), METRIC_FIELDS, strict=True)]
    return days


def _raw_requests_per_day():
    from usage.models import ModelUsageStat

    days = {}
    for created, tenant_id, model_id in ModelUsageStat.objects.values_list(
        "created_at", "tenant_id", "model_id"
    ):
        key = (tenant_id, model_id, created.replace(hour=0, minute=0, second=0, microsecond=0))
        days[key] = days.get(key, 0) + 1
    return days


def test_day_rows_stay_the_sum_of_their_hours_through_every_kind_of_refresh(make_tenant):
    a, b = make_tenant(), make_tenant(tz="Asia/Tokyo")
    base = datetime(2025, 6, 1, tzinfo=UTC)
    for i in range(40):  # four UTC days, both tenants, two models
        _write(a if i % 3 else b, base + timedelta(hours=2.3 * i), model=f"m{i % 2}",
               status="error" if i % 7 == 0 else "success", latency=40 * i)
    refresh_summary()
    assert _day_rows() == _hours_per_day()
    _write(a, base + timedelta(hours=5), count=3)  # late rows for an old day
    _write(b, base + timedelta(days=3, hours=23), model="m1")
    refresh_summary()
    assert _day_rows() == _hours_per_day()
    _write(a, base + timedelta(days=1, hours=1), count=2)  # late, before the rebuild's start
    _write(b, base + timedelta(days=2, hours=3))  # new, on the rebuild's first day
    _write(a, base + timedelta(days=3, hours=2), count=2)  # new, inside the rebuild
    refresh_summary(since=base + timedelta(days=2, hours=13))
    assert _day_rows() == _hours_per_day()
    refresh_summary(full=True)
    assert _day_rows() == _hours_per_day()
    assert {k: v[0] for k, v in _day_rows().items()} == _raw_requests_per_day()


def test_a_period_across_tenants_sums_per_utc_day_and_per_tenant_like_the_raw_rows(make_tenant):
    from usage.models import ModelUsageStat

    a, b = make_tenant(tz="America/New_York"), make_tenant(tz="Asia/Tokyo")
    base = datetime(2025, 6, 1, tzinfo=UTC)
    for i in range(60):
        _write(a if i % 4 else b, base + timedelta(hours=1.7 * i), model=f"m{i % 3}",
               status="rate_limited" if i % 5 == 0 else "success", latency=30 * i)
    refresh_summary()
    for i in range(10):  # not yet summarised
        _write(a if i % 2 else b, base + timedelta(hours=9 * i + 0.5), status="timeout")
    start, end = base + timedelta(hours=7), base + timedelta(days=4, hours=3)  # partial days

    usage = selectors.period_usage(tenants=[a, b], start=start, end=end, tz="UTC",
                                   bucket="day", by_tenant=True)

    rows = ModelUsageStat.objects.filter(created_at__gte=start, created_at__lt=end)
    per_day = {}
    for created in rows.values_list("created_at", flat=True):
        per_day[created.date()] = per_day.get(created.date(), 0) + 1
    assert {day: f["requests"] for day, f in usage["buckets"].items()} == per_day
    assert {r["tenant_id"]: r["requests"] for r in usage["by_tenant"]} == {
        t.pk: rows.filter(tenant_id=t.pk).count() for t in (a, b)
    }
    assert {r["tenant_id"]: r["rate_limited"] for r in usage["by_tenant"]} == {
        t.pk: rows.filter(tenant_id=t.pk, status=2).count() for t in (a, b)
    }
    assert sum(r["prompt_tokens"] for r in usage["by_tenant"]) == usage["all"]["prompt_tokens"]
    assert "by_tenant" not in selectors.period_usage(tenants=a, start=start, end=end)
