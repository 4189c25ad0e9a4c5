"""Acceptance 3: summaries equal a direct aggregate of the raw rows, for random data, after
several incremental refreshes, late-arriving rows and across tenants' local day boundaries;
every status (cancelled included), streamed attempts' time to first token (issue 9),
estimated token counts, and cached-input and reasoning tokens (issue 12).

The expected figures are computed here, in Python, from the generated records alone (not
from the database), with exact Decimal prices.
"""

import bisect
import uuid
import zoneinfo
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenants.models import Tenant
from usage import selectors
from usage.models import (
    LATENCY_BUCKETS_MS,
    ModelUsageDaySummary,
    ModelUsageStat,
    ModelUsageSummary,
    SummaryState,
)
from usage.records import build
from usage.statuses import COUNT_FIELD, Status
from usage.summary import refresh_summary
from usage.writer import write_records

# Around the end of daylight saving time in New York (2025-11-02 06:00 UTC).
START = datetime(2025, 11, 1, 0, 0, tzinfo=UTC)
WINDOW_MINUTES = 4 * 24 * 60
ZONES = ("UTC", "America/New_York", "Asia/Tokyo")
MODELS = (
    ("groq", "llama-3.3-70b-versatile", (Decimal("0.59"), Decimal("0.79"))),
    ("groq", "model-without-a-price", None),
    ("openrouter", "deepseek/deepseek-r1", (Decimal("0.55"), Decimal("2.19"))),
    ("llm7", "gpt-4o-mini", (Decimal("0.15"), Decimal("0.60"))),
)
STATUSES = [s.label for s in Status]
BUCKETS = len(LATENCY_BUCKETS_MS) + 1

record = st.tuples(
    st.integers(0, len(ZONES) - 1),          # tenant
    st.integers(0, len(MODELS) - 1),         # model
    st.sampled_from(STATUSES),
    st.integers(0, 50_000),                  # prompt tokens
    st.integers(0, 20_000),                  # completion tokens
    st.integers(0, 90_000),                  # latency ms
    st.one_of(st.none(), st.decimals(min_value=0, max_value=5, places=9)),  # provider cost
    st.integers(0, WINDOW_MINUTES - 1),      # minutes after START
    st.one_of(st.none(), st.integers(0, 90_000)),  # time to first token: streamed or not
    st.booleans(),                           # token counts estimated
    st.integers(0, 50_000),                  # cached input tokens (0: none reported)
    st.integers(0, 20_000),                  # reasoning tokens
)
batches = st.lists(
    st.tuples(st.lists(record, min_size=1, max_size=40), st.booleans()),  # (rows, refresh after)
    min_size=1,
    max_size=6,
)


def _pico(prompt, completion, price, provider_cost, estimated) -> int | None:
    if provider_cost is not None:
        return int(provider_cost * 10**12)
    if price is None or estimated:  # a price times estimated tokens is no cost
        return None
    usd = (prompt * price[0] + completion * price[1]) / 10**6
    return int(usd * 10**12)


def _expected(records, tenants):
    """(tenant, provider, model, UTC hour) -> figures, straight from the generated records."""
    groups = defaultdict(lambda: defaultdict(int))
    for (tenant_i, model_i, status, prompt, completion, latency, cost, minute, ttft,
         estimated, cached, reasoning) in records:
        provider, name, price = MODELS[model_i]
        at = START + timedelta(minutes=minute)
        g = groups[(tenants[tenant_i].pk, provider, name, at.replace(minute=0))]
        g["requests"] += 1
        g[status] += 1
        g["prompt_tokens"] += prompt
        g["completion_tokens"] += completion
        g["latency_ms_sum"] += latency
        g[f"bucket{bisect.bisect_left(LATENCY_BUCKETS_MS, latency)}"] += 1
        if ttft is not None:
            g["streamed"] += 1
            g["ttft_ms_sum"] += ttft
            g[f"ttft{bisect.bisect_left(LATENCY_BUCKETS_MS, ttft)}"] += 1
        g["tokens_estimated"] += estimated
        g["cached_tokens"] += cached
        g["reasoning_tokens"] += reasoning
        pico = _pico(prompt, completion, price, cost, estimated)
        if pico is None:
            g["cost_unknown"] += 1
        else:
            g["cost_pusd"] += pico
    return groups


def _figures(s) -> dict:
    g = defaultdict(int)
    for field in ("requests", "prompt_tokens", "completion_tokens", "latency_ms_sum",
                  "cost_unknown", "cost_pusd", "streamed", "ttft_ms_sum", "tokens_estimated",
                  "cached_tokens", "reasoning_tokens"):
        g[field] = getattr(s, field)
    for status in Status:
        g[status.label] = getattr(s, COUNT_FIELD[status])
    for i in range(BUCKETS):
        g[f"bucket{i}"] = getattr(s, f"lat_b{i:02d}")
        g[f"ttft{i}"] = getattr(s, f"ttft_b{i:02d}")
    return {k: v for k, v in g.items() if v}


def _summary_table():
    return {
        (s.tenant_id, s.model.provider, s.model.name, s.hour): _figures(s)
        for s in ModelUsageSummary.objects.select_related("model")
    }


def _day_table():
    return {
        (s.tenant_id, s.model.provider, s.model.name, s.day): _figures(s)
        for s in ModelUsageDaySummary.objects.select_related("model")
    }


def _utc_days(expected):
    days = defaultdict(lambda: defaultdict(int))
    for (tenant_id, provider, name, hour), figures in expected.items():
        for key, value in figures.items():
            days[(tenant_id, provider, name, hour.replace(hour=0))][key] += value
    return _clean(days)


def _local_days(expected, tenant, zone):
    """Per (local date, provider, model) from the expected hourly groups of one tenant."""
    days = defaultdict(lambda: defaultdict(int))
    for (tenant_id, provider, name, hour), figures in expected.items():
        if tenant_id == tenant.pk:
            day = hour.astimezone(zoneinfo.ZoneInfo(zone)).date()
            for key, value in figures.items():
                days[(day, provider, name)][key] += value
    return days


def _check_time_series(expected, tenants):
    for tenant, zone in zip(tenants, ZONES, strict=True):
        want = _local_days(expected, tenant, zone)
        got = selectors.time_series(
            tenants=tenant, start=START.date() - timedelta(days=1),
            end=START.date() + timedelta(days=5),
        )
        assert {(p["bucket"], p["provider"], p["model"]) for p in got} == set(want)
        for point in got:
            w = want[(point["bucket"], point["provider"], point["model"])]
            assert point["requests"] == w["requests"]
            assert point["successes"] == w["success"]
            assert point["rate_limited"] == w["rate_limited"]
            assert point["errors"] == w["error"] and point["timeouts"] == w["timeout"]
            assert point["prompt_tokens"] == w["prompt_tokens"]
            assert point["completion_tokens"] == w["completion_tokens"]
            assert point["cost_unknown"] == w["cost_unknown"]
            assert point["cost_usd"] == Decimal(w["cost_pusd"]) / 10**12
            assert point["cancelled"] == w["cancelled"]
            assert point["budget_refused"] == w["budget_exceeded"]
            # A budget refusal is no failure: no provider was called.
            assert point["failed"] == (
                w["requests"] - w["success"] - w["cancelled"] - w["budget_exceeded"]
            )
            assert point["tokens_estimated"] == w["tokens_estimated"]
            assert point["cached_tokens"] == w["cached_tokens"]
            assert point["reasoning_tokens"] == w["reasoning_tokens"]
            assert point["streamed"] == w["streamed"]
            if w["streamed"]:
                assert point["ttft_avg_ms"] == round(w["ttft_ms_sum"] / w["streamed"])
                assert point["ttft_p50_ms"] <= point["ttft_p95_ms"]
            else:
                assert point["ttft_avg_ms"] is point["ttft_p50_ms"] is None


def _clean(data):
    return {k: {f: v for f, v in g.items() if v} for k, g in data.items()}


@pytest.mark.django_db
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=batches)
def test_summaries_equal_an_aggregate_of_the_raw_rows(batches):
    ModelUsageStat.objects.all().delete()
    ModelUsageSummary.objects.all().delete()
    ModelUsageDaySummary.objects.all().delete()
    SummaryState.objects.all().delete()
    Tenant.objects.filter(slug__startswith="prop-").delete()
    tenants = [
        Tenant.objects.create(name=z, slug=f"prop-{i}", timezone=z) for i, z in enumerate(ZONES)
    ]
    written = []
    for rows, refresh_after in batches:
        records = [
            build(
                tenant_id=tenants[t].pk, provider=MODELS[m][0], model=MODELS[m][1],
                status=status, request_id=uuid.uuid4(), attempt=1, prompt_tokens=prompt,
                completion_tokens=completion, latency_ms=latency, provider_cost=cost,
                created_at=START + timedelta(minutes=minute), ttft_ms=ttft,
                tokens_estimated=estimated, cached_tokens=cached, reasoning_tokens=reasoning,
            )
            for (t, m, status, prompt, completion, latency, cost, minute, ttft, estimated,
                 cached, reasoning) in rows
        ]
        assert write_records(records) == len(records)
        written.extend(rows)
        if refresh_after:
            refresh_summary()
        # Summary + unsummarised tail always tell the whole truth.
        _check_time_series(_expected(written, tenants), tenants)

    refresh_summary()
    expected = _clean(_expected(written, tenants))
    assert _summary_table() == expected
    assert _day_table() == _utc_days(expected)
    refresh_summary(since=START + timedelta(hours=30))
    assert _summary_table() == expected
    assert _day_table() == _utc_days(expected)
    refresh_summary(full=True)
    assert _summary_table() == expected
    assert _day_table() == _utc_days(expected)
    _check_time_series(expected | {}, tenants)
