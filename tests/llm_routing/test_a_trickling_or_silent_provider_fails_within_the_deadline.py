"""LLM_HTTP_TOTAL_TIMEOUT bounds a whole request, connect, status line, headers and body
together, sync and async: a provider that answers a byte at a time (each read well within
the read timeout) or one that accepts and never answers fails the call within the
deadline, and routing moves on (issue 8, item 7 and acceptance 3). Bounds are generous:
what is checked is "seconds, not minutes"."""

import asyncio
import socket
import threading
import time

import pytest

from llm_routing import complete, http_client, stream
from tests.llm_routing.conftest import usage_rows

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def deadline(settings):
    settings.LLM_HTTP_TOTAL_TIMEOUT = 1.0
    settings.LLM_HTTP_READ_TIMEOUT = 5.0  # each trickled byte comes well within it
    http_client.reset_clients()
    yield 1.0
    http_client.reset_clients()


@pytest.fixture
def silent_server():
    """Accepts connections and reads, never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    for sock in held:
        sock.close()
    listener.close()


def url(stub_provider, provider="groq"):
    return stub_provider.base_url(provider) + "/chat/completions"


def timed(call):
    started = time.monotonic()
    with pytest.raises(http_client.TransportFailure) as caught:
        call()
    return time.monotonic() - started, caught.value


@pytest.mark.parametrize("where", ["sync", "async"])
def test_a_trickled_answer_fails_within_the_total_deadline(stub_provider, deadline, where):
    stub_provider.configure("groq", trickle=0.05)  # ~250 bytes: 12 s if left to finish
    key = stub_provider.good_key("groq")
    body = {"model": "m", "messages": HI}
    if where == "sync":
        call = lambda: http_client.request("POST", url(stub_provider), api_key=key, body=body)  # noqa: E731
    else:
        call = lambda: asyncio.run(  # noqa: E731
            http_client.arequest("POST", url(stub_provider), api_key=key, body=body)
        )
    took, failure = timed(call)
    assert failure.kind == "timeout"
    assert deadline * 0.9 <= took < deadline + 2, took
    assert key not in failure.message


@pytest.mark.parametrize("where", ["sync", "async"])
def test_a_server_that_never_answers_fails_within_the_total_deadline(
    silent_server, deadline, where
):
    target = silent_server + "/chat/completions"
    if where == "sync":
        call = lambda: http_client.request("POST", target, body={})  # noqa: E731
    else:
        call = lambda: asyncio.run(http_client.arequest("POST", target, body={}))  # noqa: E731
    took, failure = timed(call)
    assert failure.kind == "timeout"
    assert took < deadline + 2, took


def test_routing_moves_on_after_a_trickling_provider(make_tenant, stub_provider, deadline):
    stub_provider.configure("groq", trickle=0.05)
    tenant = make_tenant(preferred_provider="groq")
    started = time.monotonic()
    result = complete(tenant=tenant, messages=HI)
    assert result.provider == "openrouter"
    assert time.monotonic() - started < deadline + 3
    assert usage_rows(tenant)[0][:2] == ("groq", "timeout")


def test_a_stream_whose_head_trickles_fails_over_within_the_first_token_timeout(
    make_tenant, stub_provider, settings
):
    settings.LLM_STREAM_TIMEOUTS = {"groq": {"first_token": 1.0, "gap": 5}}
    stub_provider.configure("groq", trickle=0.05)
    tenant = make_tenant(preferred_provider="groq")
    started = time.monotonic()
    with stream(tenant=tenant, messages=HI) as s:
        list(s)
    assert s.result.provider == "openrouter"
    assert time.monotonic() - started < 4
