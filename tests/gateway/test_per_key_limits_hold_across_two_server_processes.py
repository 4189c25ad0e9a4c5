"""A tenant API key's requests-per-minute limit holds across server processes: two
separate servers on one database together admit exactly the limit (issue 10,
acceptance 4); the rest get 429 with Retry-After and reach no provider."""

import time

import httpx
import pytest

from tests.gateway.conftest import start_server, stop_server

pytestmark = [pytest.mark.slow]

HI = [{"role": "user", "content": "hi"}]


def test_two_servers_together_admit_exactly_the_keys_limit(
    tmp_path, stub_provider, settings, transactional_db, tenant_key
):
    tenant, key = tenant_key(preferred_provider="llm7")
    tenant.api_keys.update(requests_per_minute=5)
    servers = [start_server(tmp_path / str(n), stub_provider, settings) for n in range(2)]
    try:
        if time.time() % 60 > 50:  # do not straddle the minute's window
            time.sleep(61 - time.time() % 60)
        answers = [
            httpx.post(servers[n % 2][1] + "/v1/chat/completions", timeout=30,
                       headers={"Authorization": f"Bearer {key}"}, json={"messages": HI})
            for n in range(10)
        ]
    finally:
        for process, _ in servers:
            stop_server(process)
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 5 and statuses.count(429) == 5, statuses
    refused = [a for a in answers if a.status_code == 429]
    assert all(1 <= int(a.headers["retry-after"]) <= 60 for a in refused)
    assert all(a.json()["error"]["code"] == "rate_limit_exceeded" for a in refused)
    assert stub_provider.chat_requests("llm7") == 5
