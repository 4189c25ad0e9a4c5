import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from tenants.models import Tenant
from usage import selectors
from usage.records import normalise
from usage.summary import refresh_summary
from usage.writer import write_records


def _write(tenant, at, status="success", model="llama-3.3-70b-versatile", latency=100, count=1):
    write_records([
        normalise(
            (tenant.pk, "groq", model, status, uuid.uuid4(), 1, 100, 50, latency, "", None, at)
        )
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
