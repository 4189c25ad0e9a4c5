"""The router's metrics (config/metrics.py) count what routing did, with bounded labels, and
nothing when METRICS_ENABLED is off; /metrics (the Django view: runserver and WSGI) answers
only a token or an allowed address, and never shows a key or the token."""

import ipaddress
import uuid

import pytest

from config import metrics
from llm_routing import complete

HI = [{"role": "user", "content": "hi there"}]


def _value(name, **labels) -> float:
    metrics.flush()  # the router only queues; each process applies its queue twice a second
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def _snapshot():
    return {
        "routed": _value("llm_routed_requests_total", provider="openrouter", outcome="success"),
        "limited": _value("llm_attempts_total", provider="groq", outcome="rate_limited"),
        "answered": _value("llm_attempts_total", provider="openrouter", outcome="success"),
        "failover_429": _value("llm_failovers_total", reason="rate_limited"),
        "failover_cooldown": _value("llm_failovers_total", reason="cooldown"),
        "completion_tokens": _value("llm_tokens_total", provider="openrouter", kind="completion"),
        "cost": _value("llm_cost_usd_total", provider="openrouter"),
        "overhead": _value("llm_router_overhead_seconds_count"),
        "latency": _value("llm_provider_latency_seconds_count", provider="groq"),
    }


def test_a_failover_and_then_a_cooldown_skip_are_counted_by_reason(make_tenant, stub_provider):
    tenant = make_tenant()
    stub_provider.configure("groq", rate_limit_after=0, retry_after="20")
    before = _snapshot()
    first = complete(tenant=tenant, messages=HI)
    second = complete(tenant=tenant, messages=HI)  # groq rests: skipped, not called
    after = _snapshot()
    assert first.provider == second.provider == "openrouter"
    delta = {name: after[name] - before[name] for name in before}
    assert delta["routed"] == 2 and delta["answered"] == 2 and delta["overhead"] == 2
    assert delta["limited"] == 1 and delta["latency"] == 1
    assert delta["failover_429"] == 1 and delta["failover_cooldown"] == 1
    assert delta["completion_tokens"] == (
        first.usage.completion_tokens + second.usage.completion_tokens
    )
    assert delta["cost"] == pytest.approx(float(first.cost + second.cost))


def test_metrics_enabled_off_counts_nothing(make_tenant, stub_provider, settings):
    settings.METRICS_ENABLED = False
    tenant = make_tenant()
    stub_provider.configure("groq", rate_limit_after=0, retry_after="20")
    before = _snapshot()
    complete(tenant=tenant, messages=HI)
    assert _snapshot() == before


def test_only_the_listed_tenants_get_a_series_of_their_own(make_tenant, settings):
    settings.METRICS_TENANT_LABELS = ["listed"]
    listed, other = make_tenant(slug="listed"), make_tenant(slug="other")
    before = _value("llm_tenant_requests_total", tenant="listed", outcome="success")
    complete(tenant=listed, messages=HI)
    complete(tenant=other, messages=HI)
    assert _value("llm_tenant_requests_total", tenant="listed", outcome="success") == before + 1
    metrics.flush()
    tenants = {s.labels.get("tenant") for f in metrics.REGISTRY.collect() for s in f.samples}
    assert "other" not in tenants


def test_metrics_answer_the_token_and_refuse_everyone_else(client, settings, make_tenant):
    settings.METRICS_TOKEN = "scrape-token-123"
    settings.METRICS_ALLOW_NETWORKS = ()
    tenant = make_tenant()
    complete(tenant=tenant, messages=HI)
    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-12"})
    right = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"})
    posted = client.post("/metrics", headers={"Authorization": "Bearer scrape-token-123"})
    assert missing.status_code == 401 and wrong.status_code == 403 and posted.status_code == 405
    assert b"llm_" not in missing.content + wrong.content
    assert right.status_code == 200 and b"llm_routed_requests_total" in right.content
    assert b"scrape-token-123" not in right.content
    assert tenant.slug.encode() not in right.content


def test_an_address_in_the_allow_list_needs_no_token(client, settings, db):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW_NETWORKS = (ipaddress.ip_network("10.0.0.0/8"),)
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    settings.METRICS_ALLOW_NETWORKS = ()
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403


def test_track_times_one_call_in_sixty_four_for_its_caller(settings, make_tenant):
    import usage

    settings.USAGE_TRACKER_SYNC = True
    assert metrics.TRACK_SAMPLE_EVERY == usage._SAMPLE_MASK + 1
    tenant = make_tenant()
    metrics.families()  # syncs what track() sampled so far (the flusher: once a second)
    before = _value("usage_track_caller_seconds_count")
    for _ in range(2 * metrics.TRACK_SAMPLE_EVERY):
        usage.track(tenant_id=tenant.pk, provider="groq", model="m", status="success",
                    request_id=uuid.uuid4(), attempt=1)
    metrics.families()
    assert _value("usage_track_caller_seconds_count") == before + 2
    assert _value("usage_track_caller_seconds_sum") > 0


def test_decrypted_keys_are_a_cache_of_their_own(make_tenant, stub_provider):
    tenant = make_tenant()
    misses = _value("llm_cache_lookups_total", cache="decrypted_key", result="miss")
    hits = _value("llm_cache_lookups_total", cache="decrypted_key", result="hit")
    complete(tenant=tenant, messages=HI)
    complete(tenant=tenant, messages=HI)
    assert _value("llm_cache_lookups_total", cache="decrypted_key", result="miss") == misses + 1
    assert _value("llm_cache_lookups_total", cache="decrypted_key", result="hit") == hits + 1


def test_the_scrape_reports_ledger_and_summary_sizes_in_bytes(client, settings, make_tenant):
    from django.core.management import call_command
    from prometheus_client.parser import text_string_to_metric_families

    import usage

    # A row in the ledger and both summaries: an empty PostgreSQL table has no pages.
    tenant = make_tenant(slug="sized")
    usage.track(tenant_id=tenant.pk, provider="groq", model="m", status="success",
                request_id=uuid.uuid4(), attempt=1, prompt_tokens=3, completion_tokens=5)
    call_command("refresh_usage_summary", verbosity=0)
    settings.METRICS_TOKEN = "scrape-token-123"
    metrics.TABLE_SIZES._read_at = -1e9  # read now, not at most once a minute
    body = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"})
    families = {f.name: f for f in text_string_to_metric_families(body.content.decode())}
    tables = {s.labels["table"]: s.value for s in families["usage_table_size_bytes"].samples}
    indexes = {
        s.labels["table"]: s.value for s in families["usage_table_index_size_bytes"].samples
    }
    expected = {"model_usage_stats", "model_usage_summary", "model_usage_day_summary"}
    assert set(tables) == set(indexes) == expected
    assert all(value > 0 for value in tables.values())


def test_a_scrape_without_table_sizes_still_answers(client, settings, db, monkeypatch):
    from django.db import OperationalError

    from usage import sizes

    def database_away(using="default"):
        raise OperationalError("connection refused")

    settings.METRICS_TOKEN = "scrape-token-123"
    monkeypatch.setattr(sizes, "table_sizes", database_away)
    metrics.TABLE_SIZES._read_at = -1e9
    body = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"})
    assert body.status_code == 200 and b"llm_routed_requests_total" in body.content
    assert b'usage_table_size_bytes{' not in body.content
