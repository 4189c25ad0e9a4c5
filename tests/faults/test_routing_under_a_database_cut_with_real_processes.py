"""The fault suite: 4 real processes x 8 threads route for several tenants while the TCP
proxy between them and PostgreSQL is cut for a few seconds (the server itself is never
touched). A loopback stub provider counts what it received and answered.

What must hold (issue 8, acceptance 1): every request the provider received has exactly
one ledger row; every answered request reached its caller; routing raised only
RoutingError; each thread works again after the cut without help; a quota on a provider
whose reports arrive late is overshot by at most the requests in flight; no healthy
provider was skipped for contention.
"""

import io
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from tests.llm_routing.conftest import usage_rows
from tests.processes import BASE_DIR, production_env
from tests.usage.tcp_proxy import TcpProxy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the fault is a TCP proxy cut in front of a database server (PostgreSQL only)",
    ),
]

CHILD = str(Path(__file__).with_name("routing_child.py"))
PROCESSES, THREADS = 4, 8
IN_FLIGHT = PROCESSES * THREADS
# Children route until told to stop (RUN_SECONDS at most); the cut starts CUT_AT seconds
# after every thread of every child has made its first call, and lasts CUT_FOR.
RUN_SECONDS, CUT_AT, CUT_FOR, AFTER = 120.0, 2.0, 4.0, 8.0
QUOTA = 200
# (slug, providers with the model each one is asked for, config changes)
TENANTS = {
    "fault-a": {"openrouter": "m-a", "llm7": "m-a"},
    "fault-b": {"llm7": "m-b"},  # one provider: a skip would be a failed call
    "fault-c": {"llm7": "m-c", "openrouter": "m-c"},
    "fault-q": {"groq": "m-q", "llm7": "m-q"},  # a quota on a provider with late reports
}


@pytest.fixture
def tenants(make_tenant):
    made = {}
    for slug, models in TENANTS.items():
        order = list(models)
        # Default quotas (2,400 a day for llm7) would be spent in this run: lift them.
        quotas = {p: {"requests": 10_000_000} for p in order}
        config = {
            "preferred_provider": order[0],
            "failover_order": order[1:],
            "provider_models": models,
            "daily_quotas": quotas,
        }
        if slug == "fault-q":
            quotas["groq"] = {"requests": QUOTA}
            config["quota_threshold"] = 1.0
        made[slug] = make_tenant(slug=slug, keys=order, **config)
    return made


def test_a_database_cut_under_load_loses_no_attempt_and_raises_nothing_raw(
    tenants, stub_provider, settings, tmp_path
):
    stub_provider.configure("groq", slow_every=8, slow_delay=0.5, daily_limit_header=100_000)
    db = connection.settings_dict
    proxy = TcpProxy((db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432))).start()
    env = production_env(
        tmp_path,
        DATABASE_URL=f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}",
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        GROQ_BASE_URL=stub_provider.base_url("groq"),
        OPENROUTER_BASE_URL=stub_provider.base_url("openrouter"),
        LLM7_BASE_URL=stub_provider.base_url("llm7"),
        USAGE_SPILL_DIR=str(tmp_path / "spill"),
        USAGE_EXIT_TIMEOUT="30",
        LOG_LEVEL="ERROR",
        PYTHONPATH=str(BASE_DIR),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    slugs = list(TENANTS)
    children = []
    for n in range(PROCESSES):
        out = tmp_path / f"child-{n}.json"
        children.append((out, subprocess.Popen(
            [sys.executable, CHILD, str(out), str(RUN_SECONDS), str(THREADS), *slugs],
            cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )))
    try:
        deadline = time.monotonic() + 90
        while not all(Path(f"{out}.ready").exists() for out, _ in children):
            assert time.monotonic() < deadline, "the children did not start routing"
            assert all(child.poll() is None for _, child in children), "a child died"
            time.sleep(0.1)
        time.sleep(CUT_AT)
        cut_started = time.time()
        proxy.cut()
        time.sleep(CUT_FOR)
        proxy.restore()
        cut_ended = time.time()
        time.sleep(AFTER)
        for out, _ in children:
            Path(f"{out}.stop").touch()
        results = []
        for out, child in children:
            _, stderr = child.communicate(timeout=180)
            assert child.returncode == 0, stderr[-3000:]
            results.append(json.loads(out.read_text()))
    finally:
        for _, child in children:
            child.kill()
        proxy.stop()
    # Anything a child could not write before its exit deadline waits in the spill dir.
    settings.USAGE_SPILL_DIR = tmp_path / "spill"
    call_command("replay_usage_spill", stdout=io.StringIO())

    calls = [call for result in results for call in result["calls"]]
    outcomes = Counter(call[3] for call in calls)
    assert not [c for c in calls if c[3].startswith("raised:")], outcomes
    assert len(calls) > 500, outcomes  # the run did route under load
    during = [c for c in calls if cut_started <= c[2] < cut_ended]
    assert len(during) > 50, "calls were made while the database was cut"

    # Threads recover by themselves: every thread's connection works at the end, no
    # process is still on its own view, and nothing failed a few seconds after the cut.
    broken = [ok for result in results for ok in result["thread_db_ok"] if ok is not True]
    assert broken == []
    assert not any(result["down_at_end"] for result in results)
    assert all(result["fallback"]["outages"] >= 1 for result in results)
    late = [c for c in calls if c[2] > cut_ended + 3 and c[3] == "RoutingError"]
    assert late == [], (late[:3], [(r["views"], r["refs"], r["fallback"]) for r in results])

    # No healthy provider skipped for contention; the one-provider tenant never failed.
    reasons = [reason for c in calls for reason in c[5]]
    assert not [r for r in reasons if "busy" in r or "kept changing" in r], reasons[:3]
    assert [c for c in calls if c[1] == "fault-b" and c[3] != "llm7"] == []

    for slug, models in TENANTS.items():
        rows = Counter((provider, status) for provider, status, _ in usage_rows(tenants[slug]))
        for provider, model in models.items():
            received = stub_provider.chat_requests(provider, model)
            answered = stub_provider.served(provider, model)
            ledger = sum(n for (p, _), n in rows.items() if p == provider)
            successes = sum(1 for c in calls if c[1] == slug and c[3] == provider)
            # Exactly one ledger row per request the provider received...
            assert ledger == received, (slug, provider, ledger, received)
            # ...and every answer it gave reached a caller and the ledger as a success.
            assert successes == answered, (slug, provider, successes, answered)
            assert rows[(provider, "success")] == answered, (slug, provider, rows)

    # The quota on groq: reached (fault-q moved on to llm7), overshot by at most what
    # was in flight, although one groq answer in eight reports its count half a second late.
    assert any(c[1] == "fault-q" and c[3] == "llm7" for c in calls)
    assert stub_provider.chat_requests("groq") <= QUOTA + IN_FLIGHT
