import asyncio
import socket

import pytest

from llm_routing import http_client
from tests.llm_routing.local_http import OK, keep_alive


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_client_is_pooled_without_redirects_retries_or_environment(settings):
    http_client.reset_clients()
    client = http_client.client()
    assert client is http_client.client()
    assert client.follow_redirects is False
    assert client.trust_env is False
    assert client._transport._pool._retries == 0
    timeout = client.timeout
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (
        settings.LLM_HTTP_CONNECT_TIMEOUT,
        settings.LLM_HTTP_READ_TIMEOUT,
        settings.LLM_HTTP_WRITE_TIMEOUT,
        settings.LLM_HTTP_POOL_TIMEOUT,
    )


def test_changing_a_timeout_setting_rebuilds_the_client(settings):
    before, before_pool = http_client.client(), http_client._transport()
    settings.LLM_HTTP_READ_TIMEOUT = 1.5
    assert http_client.client() is not before
    assert http_client.client().timeout.read == 1.5
    assert http_client._transport() is not before_pool
    assert http_client._transport().read_timeout == 1.5


def test_the_key_goes_only_in_the_authorization_header(local_server):
    server = local_server(keep_alive(OK))
    key = "gsk_" + "q" * 48
    reply = http_client.request("POST", server.url("/v1/chat/completions"), api_key=key, body={})
    assert reply.status_code == 200
    sent = server.requests[0]  # the bytes as the server got them
    lines = [line for line in sent.split(b"\r\n") if key.encode() in line]
    assert lines == [f"Authorization: Bearer {key}".encode()]
    assert sent.count(key.encode()) == 1


def test_the_answers_headers_are_lower_case_and_repeats_are_joined(stub_provider):
    stub_provider.enqueue("groq", 200, {"X-Ratelimit-Limit-Requests": "14400"}, {"ok": True})
    url = stub_provider.base_url("groq") + "/chat/completions"
    reply = http_client.request("POST", url, api_key=stub_provider.good_key("groq"), body={})
    assert reply.status_code == 200 and reply.headers["x-ratelimit-limit-requests"] == "14400"
    assert all(name == name.lower() for name in reply.headers)
    assert http_client._header_dict([(b"Vary", b"a"), (b"vary", b"b")]) == {"vary": "a, b"}


def test_a_malformed_base_url_is_a_transport_error_without_the_key():
    key = "k" * 20
    for url in ("ftp://127.0.0.1/x", "not a url", "http:///x"):
        with pytest.raises(http_client.TransportFailure) as caught:
            http_client.request("GET", url, api_key=key)
        assert caught.value.kind == "transport_error"
        assert key not in caught.value.message and caught.value.__context__ is None


def test_a_redirect_is_returned_not_followed(stub_provider):
    stub_provider.enqueue("groq", 302, {"Location": stub_provider.base_url("llm7") + "/models"})
    url = stub_provider.base_url("groq") + "/chat/completions"
    reply = http_client.request("POST", url, api_key=stub_provider.good_key("groq"), body={})
    assert reply.status_code == 302
    assert stub_provider.stats().get("llm7") is None  # nothing followed the Location


def test_a_refused_connection_is_a_connect_error_without_context():
    with pytest.raises(http_client.TransportFailure) as caught:
        http_client.request("GET", f"http://127.0.0.1:{closed_port()}/v1/models", api_key="k" * 20)
    assert caught.value.kind == "connect_error"
    assert caught.value.__context__ is None and caught.value.__cause__ is None


def test_a_slow_answer_is_a_timeout(stub_provider, settings):
    settings.LLM_HTTP_READ_TIMEOUT = 0.1
    stub_provider.configure("groq", delay=0.5)
    with pytest.raises(http_client.TransportFailure) as caught:
        http_client.request("POST", stub_provider.base_url("groq") + "/chat/completions", body={})
    assert caught.value.kind == "timeout"


def test_an_oversized_answer_is_refused(stub_provider, settings):
    settings.LLM_HTTP_MAX_RESPONSE_BYTES = 100
    with pytest.raises(http_client.TransportFailure) as caught:
        http_client.request("GET", stub_provider.base_url("llm7") + "/models")
    assert caught.value.kind == "response_too_large"


def test_scrub_removes_the_secret_and_bearer_values():
    text = http_client.scrub("key abcdefgh12345 and Bearer zzz.yyy in one", "abcdefgh12345")
    assert "abcdefgh12345" not in text and "zzz.yyy" not in text


def test_the_async_client_answers_and_fails_like_the_sync_one(stub_provider):
    async def run():
        ok = await http_client.arequest("GET", stub_provider.base_url("llm7") + "/models")
        try:
            await http_client.arequest("GET", f"http://127.0.0.1:{closed_port()}/")
        except http_client.TransportFailure as failure:
            return ok, failure
        return ok, None

    ok, failure = asyncio.run(run())
    assert ok.status_code == 200
    assert failure is not None and failure.kind == "connect_error"
    assert failure.__context__ is None


def test_the_connection_limits_reach_the_pools(settings):
    settings.LLM_HTTP_MAX_CONNECTIONS = 777
    settings.LLM_HTTP_MAX_KEEPALIVE = 33
    pool = http_client._transport()  # request()'s
    assert (pool.max_connections, pool.max_keepalive, pool.keepalive_expiry) == (777, 33, 30)
    pool = http_client.client()._transport._pool  # streams'

    assert (pool._max_connections, pool._max_keepalive_connections) == (777, 33)

    async def async_pool():
        return http_client.async_client()._transport._pool

    pool = asyncio.run(async_pool())
    assert (pool._max_connections, pool._max_keepalive_connections) == (777, 33)
