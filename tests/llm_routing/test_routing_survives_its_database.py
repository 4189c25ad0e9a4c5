"""Routing while its own database connection is cut or black-holed (a TCP proxy between
this process and the PostgreSQL server; the server itself is never touched).

What must hold: a provider's answer reaches the caller and its usage row reaches the
ledger; only RoutingError comes out; waits are bounded by the settings; the thread
recovers by itself once the database is back; what was sent meanwhile is counted.
"""

import threading
import time

import pytest
from django.db import connection, connections

import usage
from llm_routing import RoutingError, complete, fallback, routing_view
from llm_routing.models import ProviderState
from tests.llm_routing.conftest import usage_rows
from tests.usage.tcp_proxy import TcpProxy

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the fault is a TCP proxy cut in front of a database server (PostgreSQL only)",
    ),
]

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def db_proxy(settings, monkeypatch):
    """Every connection of this process (routing's, the tracker's) goes through a proxy."""
    settings.USAGE_TRACKER_SYNC = False  # production: the tracker writes from its thread
    settings.LLM_ROUTING_DB_TIMEOUT = 0.5
    settings.LLM_ROUTING_VIEW_TTL = 0.0  # every call revalidates the view: it meets the fault
    db = connection.settings_dict
    original = (db.get("HOST"), db.get("PORT"))
    proxy = TcpProxy((original[0] or "127.0.0.1", int(original[1] or 5432))).start()
    connections.close_all()
    db["HOST"], db["PORT"] = "127.0.0.1", str(proxy.port)
    fallback.forget()
    monkeypatch.setattr(fallback, "PROBE_SECONDS", 0.2)
    yield proxy
    proxy.restore()
    usage.flush(timeout=30)
    connections.close_all()
    db["HOST"], db["PORT"] = original
    proxy.stop()
    fallback.forget()


def ask(tenant):
    return complete(tenant=tenant.slug, messages=HELLO, max_tokens=8)


def test_an_answer_during_a_cut_reaches_the_caller_and_the_ledger(make_tenant, db_proxy):
    tenant = make_tenant(slug="cut", preferred_provider="llm7")
    assert ask(tenant).provider == "llm7"  # the view is now cached in this process
    db_proxy.cut()
    during = [ask(tenant) for _ in range(3)]
    assert [r.provider for r in during] == ["llm7"] * 3
    db_proxy.restore()
    assert usage.flush(timeout=30)
    assert [row[:2] for row in usage_rows(tenant)] == [("llm7", "success")] * 4


def test_a_thread_recovers_by_itself_and_counts_what_it_sent_meanwhile(
    make_tenant, db_proxy, stub_provider
):
    tenant = make_tenant(slug="recover", preferred_provider="llm7")
    outcomes: list = []

    def worker(step: threading.Event, done: threading.Event):
        # A thread outside any request cycle, as an internal service would call.
        for _ in range(3):
            step.wait()
            step.clear()
            try:
                outcomes.append(ask(tenant).provider)
            except Exception as exc:  # noqa: BLE001 - recorded for the assertion
                outcomes.append(exc)
            done.set()
        connection.close()

    step, done = threading.Event(), threading.Event()
    thread = threading.Thread(target=worker, args=(step, done))
    thread.start()
    for fault in ("before", "cut", "after"):
        if fault == "cut":
            db_proxy.cut()
        if fault == "after":
            db_proxy.restore()
            time.sleep(0.3)  # the next probe of the database is due
        step.set()
        assert done.wait(30)
        done.clear()
    thread.join(30)
    assert outcomes == ["llm7", "llm7", "llm7"]
    assert not fallback.down(), "the thread's first call after the cut used the database again"
    connection.close()  # this test thread's own connection was cut too (it does not route)
    row = ProviderState.objects.get(tenant=tenant, provider="llm7")
    assert row.requests_used == 3  # the one sent during the cut was settled into the row
    assert stub_provider.chat_requests("llm7") == 3


def test_a_black_holed_database_costs_a_call_at_most_the_statement_timeout(
    make_tenant, db_proxy
):
    tenant = make_tenant(slug="hole", preferred_provider="llm7")
    ask(tenant)
    db_proxy.black_hole()
    started = time.monotonic()
    result = ask(tenant)
    first = time.monotonic() - started
    started = time.monotonic()
    again = ask(tenant)
    second = time.monotonic() - started
    assert (result.provider, again.provider) == ("llm7", "llm7")
    # Generous bounds: 0.5 s per guarded statement, one statement before routing moves to
    # its own view; later calls skip the database until the next probe.
    assert first < 5, first
    assert second < 2, second


def test_without_a_cached_view_an_unreachable_database_is_a_routing_error(
    make_tenant, db_proxy
):
    tenant = make_tenant(slug="cold", preferred_provider="llm7")
    routing_view.forget()
    db_proxy.cut()
    with pytest.raises(RoutingError, match="database is unreachable"):
        ask(tenant)
    db_proxy.restore()
    fallback.forget()
    assert ask(tenant).provider == "llm7"


def test_a_black_holed_database_without_a_cached_view_fails_within_the_deadline(
    make_tenant, db_proxy
):
    tenant = make_tenant(slug="cold-hole", preferred_provider="llm7")
    routing_view.forget()
    connections.close_all()
    db_proxy.black_hole()
    started = time.monotonic()
    with pytest.raises(RoutingError):
        ask(tenant)
    # New connections are bounded by DB_CONNECT_TIMEOUT (default 5 s).
    assert time.monotonic() - started < 15


def test_routing_fails_closed_after_the_fail_open_window(make_tenant, db_proxy, settings):
    settings.LLM_ROUTING_FAIL_OPEN_SECONDS = 0.5
    settings.LLM_ROUTING_VIEW_TTL = 60  # a fresh cached view must not pass for a live database
    tenant = make_tenant(slug="closed", preferred_provider="llm7", auto_failover=False)
    ask(tenant)
    db_proxy.cut()
    assert ask(tenant).provider == "llm7"  # open: this process's own view
    time.sleep(0.6)
    with pytest.raises(RoutingError, match="failing closed"):
        ask(tenant)
