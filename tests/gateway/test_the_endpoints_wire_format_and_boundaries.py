"""The endpoint byte by byte, and its boundaries: the raw SSE lines match OpenAI's format,
a revoked key stops at once, one tenant's key never reaches another's providers, a
client that disconnects cancels upstream, and no canary key shows anywhere."""

import json
import time

import httpx
import pytest
from django.db import connection

from tenants import services
from tenants.models import Tenant
from tests.gateway.conftest import start_server, stop_server
from tests.llm_routing.conftest import canary_key, usage_rows

pytestmark = [pytest.mark.slow]

HI = [{"role": "user", "content": "hi"}]


def post(url, key, body, **kwargs):
    return httpx.post(url + "/v1/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {key}"}, timeout=30, **kwargs)


def test_the_raw_sse_lines_are_openais_format(gateway, tenant_key):
    _, key = tenant_key(preferred_provider="groq")
    lines = []
    with httpx.stream("POST", gateway + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": "auto", "messages": HI, "stream": True,
                            "stream_options": {"include_usage": True}}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        raw = b"".join(response.iter_raw())
    events = raw.split(b"\n\n")
    assert events[-1] == b"" and events[-2] == b"data: [DONE]"
    for event in events[:-2]:
        assert event.startswith(b"data: {") and b"\n" not in event
        lines.append(json.loads(event[6:]))
    ids = {line["id"] for line in lines}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    assert all(line["object"] == "chat.completion.chunk" for line in lines)
    assert lines[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert lines[-2]["choices"][0]["finish_reason"] == "stop"
    assert lines[-1]["choices"] == [] and set(lines[-1]["usage"]) == {
        "prompt_tokens", "completion_tokens", "total_tokens"}


def test_a_revoked_key_stops_at_once(gateway, tenant_key):
    # The server remembers a valid key (tenants/key_cache.py on PostgreSQL) after its
    # first use; the revoke, committed here, must still stop the very next request.
    tenant, key = tenant_key()
    for attempt in range(5):
        api_key, raw = services.api_key_create(tenant=tenant, name=f"svc {attempt}")
        for _ in range(3):
            assert post(gateway, raw, {"messages": HI}).status_code == 200
        services.api_key_revoke(key=api_key)
        refused = post(gateway, raw, {"messages": HI})
        assert refused.status_code == 401, attempt
        assert refused.json()["error"]["code"] == "invalid_api_key"
    # A tenant switched off by a bare UPDATE (no signal anywhere) stops at once too.
    for _ in range(3):
        assert post(gateway, key, {"messages": HI}).status_code == 200
    Tenant.objects.filter(pk=tenant.pk).update(is_active=False)
    assert post(gateway, key, {"messages": HI}).status_code == 401


def test_a_tenants_key_never_reaches_another_tenants_providers(gateway, tenant_key,
                                                              stub_provider):
    mine, my_key = tenant_key(slug="mine", keys=("llm7",), preferred_provider="llm7")
    theirs, _ = tenant_key(slug="theirs", preferred_provider="groq")
    # Their groq key is there, mine is not: naming groq must not borrow theirs.
    refused = post(gateway, my_key, {"model": "groq/llama-3.3-70b-versatile", "messages": HI})
    assert refused.status_code == 404
    for body in ({"messages": HI, "tenant": str(theirs.pk)},
                 {"messages": HI, "provider": "groq"}):
        assert post(gateway, my_key, body).status_code == 400
    answered = post(gateway, my_key, {"messages": HI})
    assert answered.headers["x-llm-provider"] == "llm7"
    assert stub_provider.chat_requests("groq") == 0
    time.sleep(1.5)  # the server's tracker writes in the background
    assert usage_rows(theirs) == []
    assert [row[0] for row in usage_rows(mine)] == ["llm7"]


def test_a_client_that_disconnects_cancels_upstream(gateway, tenant_key, stub_provider):
    tenant, key = tenant_key(preferred_provider="groq")
    stub_provider.configure("groq", stream_chunks=400, stream_chunk_delay=0.05)
    with httpx.stream("POST", gateway + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"messages": HI, "stream": True}) as response:
        seen = 0
        for line in response.iter_lines():
            seen += line.startswith("data: {")
            if seen == 4:
                break
        left = time.monotonic()
    deadline = time.monotonic() + 10
    while not stub_provider.streams("groq") and time.monotonic() < deadline:
        time.sleep(0.02)
    ended = stub_provider.streams("groq")[-1]
    assert ended["end"] == "client_closed"
    assert ended["ended_at"] - left < 2.0
    assert ended["chunks"] < 100
    deadline = time.monotonic() + 10
    while not usage_rows(tenant) and time.monotonic() < deadline:
        time.sleep(0.1)
    rows = usage_rows(tenant)
    assert rows == [("groq", "cancelled", 1)]


def test_no_canary_key_in_any_answer_header_or_event(gateway, make_tenant, stub_provider):
    from tenants.models import Tenant

    keys = {p: canary_key(p) for p in ("groq", "openrouter", "llm7")}
    tenant = Tenant.objects.create(name="Canary", slug="canary")
    services.tenant_set_tokens(tenant=tenant, tokens=keys)
    _, raw_key = services.api_key_create(tenant=tenant, name="svc")
    seen = []
    # Refused keys (401 from every provider), then accepted ones, streamed and not,
    # with a provider quoting the key in an error mid-stream.
    seen.append(post(gateway, raw_key, {"messages": HI}))
    for provider, key in keys.items():
        stub_provider.accept_key(provider, key)
    seen.append(post(gateway, raw_key, {"messages": HI}))
    stub_provider.enqueue("groq", 500, {}, {"error": {"message": f"saw {keys['groq']}"}})
    seen.append(post(gateway, raw_key, {"messages": HI, "stream": True}))
    seen.append(httpx.get(gateway + "/v1/models", headers={"Authorization": f"Bearer {raw_key}"}))
    for response in seen:
        text = response.text + json.dumps(dict(response.headers))
        for key in keys.values():
            assert key not in text and key[8:30] not in text


def test_a_key_of_an_inactive_tenant_is_refused(gateway, tenant_key):
    tenant, key = tenant_key()
    tenant.is_active = False
    tenant.save()
    assert post(gateway, key, {"messages": HI}).status_code == 401


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the key cache is PostgreSQL's")
def test_the_server_remembers_a_key_and_still_refuses_it_once_revoked(
    tmp_path, stub_provider, settings, transactional_db, tenant_key
):
    """The server process really serves a warmed key from its cache (its own metrics say
    so), and the revoke committed here still stops the very next request."""
    token = "metrics-" + "t" * 24
    tenant, key = tenant_key()
    process, url = start_server(tmp_path, stub_provider, settings, METRICS_TOKEN=token)
    try:
        for _ in range(5):
            assert post(url, key, {"messages": HI}).status_code == 200
        scraped = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {token}"},
                            timeout=30).text
        hits = [float(line.rsplit(" ", 1)[1]) for line in scraped.splitlines()
                if line.startswith('llm_cache_lookups_total{cache="api_key",result="hit"}')]
        assert hits and hits[0] >= 3, scraped[-2000:]
        services.api_key_revoke(key=tenant.api_keys.get())
        assert post(url, key, {"messages": HI}).status_code == 401
    finally:
        output = stop_server(process)
    assert "Traceback" not in output, output[-3000:]
