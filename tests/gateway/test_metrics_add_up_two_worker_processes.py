"""/metrics of a server with two worker processes (uvicorn --workers 2, multiprocess mode)
reports the sum of both, in valid Prometheus text, with a series count that does not grow
with the number of tenants (issue 11, acceptance 1); without its token it answers nothing."""

import secrets
import threading
import time

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tenants.models import Tenant
from tests.gateway.conftest import start_server, stop_server

pytestmark = [pytest.mark.slow]

HI = [{"role": "user", "content": "hi"}]


def _scrape(url, token) -> list:
    answer = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return list(text_string_to_metric_families(answer.text))


def _scrape_until(url, token, routed: int) -> list:
    """The scrape once it counts ``routed`` requests: workers apply their figures to the
    shared files within half a second (config/metrics.py); 30 s is the generous bound."""
    deadline = time.monotonic() + 30
    while True:
        families = _scrape(url, token)
        if _value(families, "llm_routed_requests_total") >= routed or time.monotonic() > deadline:
            return families
        time.sleep(0.1)


def _value(families, name, **labels) -> float:
    return sum(
        s.value for f in families for s in f.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def _series(families) -> set:
    return {(s.name, tuple(sorted(s.labels.items()))) for f in families for s in f.samples}


def _routed_per_worker(directory) -> dict[str, float]:
    """llm_routed_requests_total of each worker, read from its own file."""
    found = {}
    for path in sorted(directory.glob("counter_*.db")):
        metrics = MultiProcessCollector.merge([str(path)], accumulate=True)
        found[path.name] = sum(
            s.value for m in metrics for s in m.samples if s.name == "llm_routed_requests_total"
        )
    return found


def _route(url, keys, times) -> list[int]:
    statuses = []

    def send(key):
        answer = httpx.post(url + "/v1/chat/completions", timeout=30,
                            headers={"Authorization": f"Bearer {key}"}, json={"messages": HI})
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=send, args=(key,)) for key in keys for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def _bulk_tenants(prefix, count):
    Tenant.objects.bulk_create(
        Tenant(name=f"{prefix} {n}", slug=f"{prefix}-{n}") for n in range(count)
    )


def test_two_workers_add_up_and_tenants_do_not_add_series(
    tmp_path, stub_provider, settings, transactional_db, tenant_key
):
    token = secrets.token_urlsafe(24)
    directory = tmp_path / "prometheus"
    directory.mkdir()
    keys = [tenant_key(slug=f"first-{n}", preferred_provider="llm7")[1] for n in range(5)]
    _bulk_tenants("filler", 5)  # 10 tenants
    process, url = start_server(tmp_path, stub_provider, settings, workers=2,
                                PROMETHEUS_MULTIPROC_DIR=str(directory), METRICS_TOKEN=token)
    try:
        statuses = _route(url, keys, times=4)
        while len([v for v in _routed_per_worker(directory).values() if v]) < 2:
            assert len(statuses) < 400, "one worker took every request"
            statuses += _route(url, keys, times=2)
            time.sleep(0.6)  # the workers' flush interval
        before = _scrape_until(url, token, len(statuses))

        per_worker = _routed_per_worker(directory)
        assert statuses == [200] * len(statuses)
        assert _value(before, "llm_routed_requests_total", provider="llm7",
                      outcome="success") == len(statuses) == sum(per_worker.values())
        assert _value(before, "llm_attempts_total", provider="llm7") == len(statuses)
        assert _value(before, "llm_tokens_total", provider="llm7", kind="prompt") > 0
        assert _value(before, "llm_router_overhead_seconds_count") == len(statuses)
        assert stub_provider.chat_requests("llm7") == len(statuses)

        _bulk_tenants("more", 985)  # with the 5 below: 1,000 tenants
        later = [tenant_key(slug=f"later-{n}", preferred_provider="llm7")[1] for n in range(5)]
        assert Tenant.objects.count() == 1000
        more = _route(url, later, times=4)
        after = _scrape_until(url, token, len(statuses) + len(more))
    finally:
        output = stop_server(process)
    assert "Traceback" not in output, output[-3000:]
    assert more == [200] * len(more)
    assert _value(after, "llm_routed_requests_total") == len(statuses) + len(more)
    assert _series(after) == _series(before)
    assert not any("tenant" in labels for _, labels in _series(after) if labels)
    for key in keys + later:
        assert key not in str(_series(after))


def test_metrics_refuse_a_request_without_the_token(
    tmp_path, stub_provider, settings, transactional_db, tenant_key
):
    token = secrets.token_urlsafe(24)
    process, url = start_server(tmp_path, stub_provider, settings, METRICS_TOKEN=token)
    try:
        missing = httpx.get(url + "/metrics", timeout=30)
        wrong = httpx.get(url + "/metrics", headers={"Authorization": "Bearer nope"}, timeout=30)
        right = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {token}"},
                          timeout=30)
    finally:
        output = stop_server(process)
    assert "Traceback" not in output, output[-3000:]
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert wrong.status_code == 403
    assert "llm_" not in missing.text + wrong.text and token not in missing.text + wrong.text
    assert right.status_code == 200 and "llm_routed_requests_total" in right.text
    assert token not in right.text
