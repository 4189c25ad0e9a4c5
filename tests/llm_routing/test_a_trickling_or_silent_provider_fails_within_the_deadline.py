"""LLM_HTTP_TOTAL_TIMEOUT bounds a whole request, connect, status line, headers and body
together, sync and async: a provider that answers a byte at a time (each read well within
the read timeout) or one that accepts and never answers fails the call within the
deadline, and routing moves on (issue 8, item 7 and acceptance 3). Bounds are generous:
what is checked is "seconds, not minutes"."""

import asyncio
import contextlib
import select
import socket
import threading
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from llm_routing import acomplete, complete, http11, http_client, stream
from tenants import services
from tests.llm_routing.conftest import canary_key, usage_rows
from tests.tenants.helpers import assert_no_trace

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


# --- each part of the exchange, with a canary key --------------------------------------------
# Every other timeout is set far above the deadline: only the deadline can end these calls
# within seconds.


@pytest.fixture
def only_the_deadline(deadline, settings):
    settings.LLM_HTTP_CONNECT_TIMEOUT = 30.0
    settings.LLM_HTTP_READ_TIMEOUT = 30.0
    settings.LLM_HTTP_POOL_TIMEOUT = 30.0
    return deadline


def call_sync(target: str, key: str):
    return http_client.request("POST", target, api_key=key, body={"model": "m", "messages": HI})


def call_async(target: str, key: str):
    body = {"model": "m", "messages": HI}
    return asyncio.run(http_client.arequest("POST", target, api_key=key, body=body))


CALLS = [pytest.param(call_sync, id="sync"), pytest.param(call_async, id="async")]


def assert_ended_by_the_deadline(call, target: str, key: str, deadline: float) -> None:
    took, failure = timed(lambda: call(target, key))
    assert failure.kind == "timeout"
    assert "deadline of 1 s passed" in failure.message, failure.message
    assert deadline * 0.9 <= took < deadline + 2, took
    assert_no_trace(failure.message + repr(failure), [key])


@pytest.fixture
def canary_groq(stub_provider):
    """The stub's groq chat URL and a canary key it accepts."""
    key = canary_key("groq")
    stub_provider.accept_key("groq", key)
    return url(stub_provider), key


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("fault", ["trickle", "trickle_body"])
def test_a_trickled_head_or_body_fails_at_the_deadline_without_the_key(
    stub_provider, canary_groq, only_the_deadline, fault, call
):
    stub_provider.configure("groq", **{fault: 0.05})
    assert_ended_by_the_deadline(call, *canary_groq, only_the_deadline)


@pytest.mark.parametrize("call", CALLS)
def test_a_patient_client_gets_the_whole_trickled_answer(stub_provider, canary_groq, call):
    # The fault is only slow: with time enough its answer is whole and correct.
    stub_provider.configure("groq", trickle=0.002, trickle_body=0.001)
    reply = call(*canary_groq)
    assert reply.status_code == 200
    assert reply.headers["x-ratelimit-limit-requests"] == "14400"
    assert b"Hello from the stub provider." in reply.content


@contextlib.contextmanager
def hanging_port():
    """A loopback port whose connect hangs: the listener's backlog is full and never
    accepted, so the kernel drops further SYNs (as a firewall that drops packets would)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        while True:
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            fillers.append(sock)
            if not select.select([], [sock], [], 0.2)[1]:
                break  # this connect hangs: so will the client's
            if len(fillers) > 64:
                pytest.skip("this kernel does not drop connections beyond the backlog")
        yield port
    finally:
        for sock in fillers:
            sock.close()
        listener.close()


@pytest.fixture
def black_hole():
    with hanging_port() as port:
        yield f"http://127.0.0.1:{port}/v1/chat/completions"


@pytest.mark.parametrize("call", CALLS)
def test_a_connect_to_a_black_hole_fails_at_the_deadline(black_hole, only_the_deadline, call):
    assert_ended_by_the_deadline(call, black_hole, canary_key("llm7"), only_the_deadline)


def test_waiting_for_a_pooled_connection_ends_at_the_deadline(
    stub_provider, canary_groq, only_the_deadline, settings
):
    settings.LLM_HTTP_MAX_CONNECTIONS = 1
    stub_provider.configure("llm7", delay=2.5)
    # The only connection is busy with a slow request of another thread, one with a
    # deadline of its own past this call's (so straight to the pool).
    target = http_client._target(url(stub_provider, "llm7"))
    data = http11.encode_request("POST", target.path, target.host, {}, b"{}")
    busy = threading.Thread(
        target=http_client._transport().request, args=(target.origin, data),
        kwargs={"deadline": time.monotonic() + 10, "limit": 10_000},
    )
    busy.start()
    try:
        while stub_provider.chat_requests("llm7") == 0:
            time.sleep(0.01)
        assert_ended_by_the_deadline(call_sync, *canary_groq, only_the_deadline)
    finally:
        busy.join()


def test_the_async_wait_for_a_pooled_connection_ends_at_the_deadline(
    stub_provider, canary_groq, only_the_deadline, settings
):
    settings.LLM_HTTP_MAX_CONNECTIONS = 1

    def call(target, key):
        async def run():
            models = stub_provider.base_url("llm7") + "/models"
            async with http_client.async_client().stream("GET", models):
                return await http_client.arequest("POST", target, api_key=key, body={})

        return asyncio.run(run())

    assert_ended_by_the_deadline(call, *canary_groq, only_the_deadline)


@pytest.mark.django_db(transaction=True)
def test_acomplete_moves_on_after_a_trickling_provider_without_the_key(
    make_tenant, stub_provider, only_the_deadline
):
    tenant = make_tenant(preferred_provider="groq")
    key = canary_key("groq")
    stub_provider.accept_key("groq", key)
    services.tenant_set_tokens(tenant=tenant, tokens={"groq": key})
    stub_provider.configure("groq", trickle=0.05)

    async def run():
        try:
            return await acomplete(tenant=tenant, messages=HI)
        finally:
            await sync_to_async(connections.close_all)()

    started = time.monotonic()
    result = asyncio.run(run())
    assert time.monotonic() - started < only_the_deadline + 3
    assert result.provider == "openrouter"
    assert [(a.provider, a.outcome) for a in result.attempts][0] == ("groq", "timeout")
    assert "deadline" in result.attempts[0].reason
    assert_no_trace(repr(result.attempts), [key])
    assert usage_rows(tenant)[0][:2] == ("groq", "timeout")



def test_a_name_whose_every_address_hangs_fails_at_the_deadline(only_the_deadline, monkeypatch):
    """A provider name that resolves to four addresses, each a black hole: the deadline
    covers the tries together, not each one (the sync transport connects address by
    address; the async path is bounded by asyncio.timeout as a whole)."""
    with hanging_port() as a, hanging_port() as b, hanging_port() as c, hanging_port() as d:
        real = socket.getaddrinfo

        def three_addresses(host, port, *args, **kwargs):
            if host != "provider.test":
                return real(host, port, *args, **kwargs)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", p))
                    for p in (a, b, c, d)]

        monkeypatch.setattr(socket, "getaddrinfo", three_addresses)
        assert_ended_by_the_deadline(call_sync, "http://provider.test/v1/chat/completions",
                                     canary_key("groq"), only_the_deadline)
