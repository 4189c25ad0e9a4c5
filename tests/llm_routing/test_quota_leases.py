"""Quota leases: far from every quota a process counts a few requests ahead in the shared
row and spends them without a round trip; near a quota every request is counted exactly.
"""

import datetime as dt
import os
import time

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from llm_routing import complete, leases, provider_status
from llm_routing.models import ProviderState
from tests.llm_routing.conftest import usage_rows
from tests.llm_routing.test_processes import database_url
from tests.processes import run_python

pytestmark = pytest.mark.django_db(transaction=True)

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def leases_on(settings):
    settings.LLM_ROUTING_LEASE_SIZE = 8
    settings.LLM_ROUTING_LEASE_SECONDS = 60
    yield settings
    leases.forget()


def providers_used(tenant, calls):
    return [complete(tenant=tenant, messages=HI).provider for _ in range(calls)]


def row(tenant, provider) -> ProviderState:
    return ProviderState.objects.get(tenant=tenant, provider=provider)


class ReserveStatements:
    """Counts the reserve UPDATEs this thread runs (an execute wrapper sees the SQL text
    whether or not psycopg has prepared the statement), and its other state writes."""

    def __init__(self):
        self.count = self.other_writes = 0

    def __call__(self, execute, sql, params, many, context):
        if "requests_used = CASE" in sql:
            self.count += 1
        elif sql.lstrip().startswith("UPDATE llm_provider_state"):
            self.other_writes += 1
        return execute(sql, params, many, context)


def test_far_from_the_quota_the_row_is_asked_once_per_lease(leases_on, make_tenant, stub_provider):
    # LLM7's default quota (2,400 a day) leaves room for leases of 8.
    tenant = make_tenant(preferred_provider="llm7")
    reserves = ReserveStatements()
    with connection.execute_wrapper(reserves):
        assert providers_used(tenant, 25) == ["llm7"] * 25
    # Request 1 creates the row (two statements) and is counted alone: no count seen yet.
    # Request 2 opens a lease of 8 (3-10 spend it); 11 and 20 renew it. Without leases:
    # 26 statements.
    assert reserves.count == 5
    assert stub_provider.chat_requests("llm7") == 25
    assert [r[1] for r in usage_rows(tenant)] == ["success"] * 25


def test_the_shared_count_never_falls_behind_and_settles_to_what_was_sent(
    leases_on, make_tenant, stub_provider
):
    tenant = make_tenant(preferred_provider="llm7")
    providers_used(tenant, 25)
    # The lease opened by request 20 counted 8 ahead; requests 21-25 spent 5 of them.
    state = row(tenant, "llm7")
    assert (state.requests_used, state.leased) == (28, 8)
    assert leases.outstanding() == {(tenant.pk, "llm7"): (8, 3)}
    assert leases.settle_due(everything=True) == 1
    state = row(tenant, "llm7")
    assert (state.requests_used, state.leased) == (25, 0)
    assert provider_status(tenant=tenant)["llm7"]["requests_today"] == 25


def test_near_the_quota_every_request_is_counted_and_the_quota_holds(
    leases_on, make_tenant, stub_provider
):
    # 40 requests at a 100% threshold: leases shrink to nothing as the quota comes close.
    tenant = make_tenant(preferred_provider="llm7", quota_threshold=1.0,
                         daily_quotas={"llm7": {"requests": 40}})
    assert providers_used(tenant, 42) == ["llm7"] * 40 + ["openrouter"] * 2
    assert stub_provider.chat_requests("llm7") == 40
    leases.settle_due(everything=True)
    assert (row(tenant, "llm7").requests_used, row(tenant, "llm7").leased) == (40, 0)


def test_another_process_cooldown_arrives_when_the_lease_ends(
    leases_on, make_tenant, stub_provider
):
    leases_on.LLM_ROUTING_LEASE_SECONDS = 1.0
    tenant = make_tenant(preferred_provider="llm7")
    providers_used(tenant, 2)  # the second request opens a lease
    # Another process saw a 429 and put llm7 to rest for this tenant.
    ProviderState.objects.filter(tenant=tenant, provider="llm7").update(
        cooldown_until=timezone.now() + dt.timedelta(minutes=10), cooldown_reason="429 elsewhere"
    )
    assert complete(tenant=tenant, messages=HI).provider == "llm7"  # still inside the lease
    time.sleep(1.05)
    result = complete(tenant=tenant, messages=HI)
    assert result.provider == "openrouter"
    assert "cooling down" in result.skipped[0].reason
    # The rest of the lease went back when the renewal found the provider resting.
    state = row(tenant, "llm7")
    assert (state.requests_used - state.leased, state.leased) == (3, 0)


def test_this_process_stops_spending_its_lease_at_its_own_429(
    leases_on, make_tenant, stub_provider
):
    tenant = make_tenant(preferred_provider="llm7")
    providers_used(tenant, 2)
    stub_provider.enqueue("llm7", 429, {"retry-after": "600"}, {"error": {"message": "slow"}})
    first = complete(tenant=tenant, messages=HI)
    assert [a.provider for a in first.attempts] == ["llm7", "openrouter"]
    second = complete(tenant=tenant, messages=HI)
    assert [a.provider for a in second.attempts] == ["openrouter"]
    assert stub_provider.chat_requests("llm7") == 3
    state = row(tenant, "llm7")
    assert (state.requests_used, state.leased) == (3, 0)
    assert provider_status(tenant=tenant)["llm7"]["requests_today"] == 3


def test_a_token_quota_is_never_leased(leases_on, make_tenant, stub_provider):
    tenant = make_tenant(preferred_provider="llm7", daily_quotas={"llm7": {"tokens": 100_000}})
    reserves = ReserveStatements()
    with connection.execute_wrapper(reserves):
        providers_used(tenant, 5)
    assert reserves.count == 6  # the first request also creates the row
    assert not leases.outstanding()


def test_a_forked_child_does_not_spend_its_parents_lease(leases_on, make_tenant, stub_provider):
    tenant = make_tenant(preferred_provider="llm7")
    providers_used(tenant, 2)
    assert leases.outstanding()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        os._exit(0 if not leases.outstanding() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert leases.outstanding()


def test_a_process_gives_back_what_it_did_not_spend_when_it_exits(
    make_tenant, stub_provider, settings
):
    make_tenant(slug="exiting", preferred_provider="llm7")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "LLM7_BASE_URL": stub_provider.base_url("llm7"),
        "LLM_ROUTING_LEASE_SIZE": "8",
        "LLM_ROUTING_LEASE_SECONDS": "60",
        "LOG_LEVEL": "WARNING",
    }
    script = (
        "import django; django.setup()\n"
        "from llm_routing import complete, leases\n"
        "hi = [{'role': 'user', 'content': 'hi'}]\n"
        "for _ in range(5): complete(tenant='exiting', messages=hi)\n"
        "assert leases.outstanding(), 'the run should end holding a lease'\n"
    )
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    done = run_python(env, "-c", script)
    assert done.returncode == 0, done.stderr
    state = ProviderState.objects.get(tenant__slug="exiting", provider="llm7")
    assert (state.requests_used, state.leased) == (5, 0)


def test_a_process_sending_rarely_takes_no_lease(leases_on, make_tenant, stub_provider):
    # One request every 0.2 s against a lease period of 0.05 s: a lease would only expire.
    leases_on.LLM_ROUTING_LEASE_SECONDS = 0.05
    tenant = make_tenant(preferred_provider="llm7")
    reserves = ReserveStatements()
    with connection.execute_wrapper(reserves):
        for _ in range(3):
            assert complete(tenant=tenant, messages=HI).provider == "llm7"
            assert not leases.outstanding()
            time.sleep(0.2)
    assert reserves.count == 4  # the first request also creates the row
    assert (row(tenant, "llm7").requests_used, row(tenant, "llm7").leased) == (3, 0)


def test_the_providers_own_count_is_written_only_when_it_moves_away(
    leases_on, make_tenant, stub_provider
):
    # Groq reports its daily count in headers: the first answer brings its limit (one
    # write); while the count agrees with the leased one, nothing more is written.
    tenant = make_tenant(preferred_provider="groq")
    writes = ReserveStatements()
    with connection.execute_wrapper(writes):
        assert providers_used(tenant, 20) == ["groq"] * 20
    assert writes.other_writes == 1
    # Someone else uses the same key 300 times: the provider's count is the truth, written
    # once, and later answers agree with it again.
    url = stub_provider.base_url("groq") + "/chat/completions"
    auth = {"Authorization": f"Bearer {stub_provider.good_key('groq')}"}
    body = {"model": "llama-3.3-70b-versatile", "messages": HI}
    with httpx.Client(headers=auth) as elsewhere:
        for _ in range(300):
            elsewhere.post(url, json=body).raise_for_status()
    writes = ReserveStatements()
    with connection.execute_wrapper(writes):
        assert providers_used(tenant, 5) == ["groq"] * 5
    assert writes.other_writes == 1
    leases.settle_due(everything=True)
    state = row(tenant, "groq")
    assert (state.requests_used, state.leased) == (325, 0)
