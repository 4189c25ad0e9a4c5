"""Hostile and careless bodies get a clear 4xx in OpenAI's error shape, never a 500, and
change nothing (no provider call, no usage row): wrong content type, invalid JSON, deep
nesting, lone surrogates, NULs, wrong types, an empty messages list, an oversized body.
Runs the ASGI application in-process."""

import asyncio
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_routing.gateway.app import Gateway
from usage.models import ModelUsageStat

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(tenant_key, stub_provider):
    tenant, key = tenant_key()

    def call(body: bytes, content_type="application/json", auth=True):
        headers = {"content-type": content_type}
        if auth:
            headers["authorization"] = f"Bearer {key}"

        async def go():
            transport = httpx.ASGITransport(app=Gateway())
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.post("/v1/chat/completions", content=body, headers=headers)

        return asyncio.run(go())

    return tenant, call


def assert_refused(response, status):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]


@pytest.mark.parametrize("body, content_type, status", [
    (b'{"messages": []}', "application/json", 400),
    (b'{"messages": [{"content": "no role"}]}', "application/json", 400),
    (b"{not json", "application/json", 400),
    (b"", "application/json", 400),
    (b"[1, 2]", "application/json", 400),
    (b'{"messages": [{"role": "user", "content": "hi"}]}', "text/plain", 415),
    (b'{"messages": [{"role": "user", "content": "hi"}], "n": 3}', "application/json", 400),
    (b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": -1}',
     "application/json", 400),
    (b'{"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}',
     "application/json", 400),
    (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
    (b'{"messages": [{"role": "user", "content": "\\ud800"}], "model": "\\u0000"}',
     "application/json", 404),
])
def test_bad_bodies_are_clear_errors(api, stub_provider, body, content_type, status):
    tenant, call = api
    assert_refused(call(body, content_type), status)
    assert sum(stub_provider.chat_requests(p) for p in ("groq", "openrouter", "llm7")) == 0
    assert not ModelUsageStat.objects.filter(tenant_id=tenant.pk).exists()


def test_an_oversized_body_is_a_413(api, settings):
    settings.LLM_GATEWAY_MAX_BODY_BYTES = 1000
    _, call = api
    body = json.dumps({"messages": [{"role": "user", "content": "x" * 2000}]}).encode()
    assert_refused(call(body), 413)


def test_no_key_is_a_401_before_the_body_is_read(api):
    _, call = api
    assert_refused(call(b"{not json", auth=False), 401)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(codec="utf-16", exclude_categories=())),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=12), children, max_size=3),
    max_leaves=12,
)
fields = st.fixed_dictionaries({}, optional={
    "messages": json_values | st.lists(st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "bogus"]), "content": json_values}), max_size=2),
    "model": json_values, "stream": json_values, "stream_options": json_values,
    "max_tokens": json_values, "temperature": json_values, "n": json_values,
    "tools": json_values,
})


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=fields | json_values, nest=st.integers(min_value=0, max_value=3000))
def test_generated_bodies_never_cause_a_500(api, body, nest):
    _, call = api
    raw = json.dumps(body).encode()
    if nest > 2000:
        raw = b'{"messages": ' + b"[" * nest + b"]" * nest + b"}"
    response = call(raw)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_refused(response, response.status_code)
