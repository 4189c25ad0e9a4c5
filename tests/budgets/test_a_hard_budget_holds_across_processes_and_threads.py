"""Issue 12, acceptance 1: 4 real processes x 8 threads send requests whose worst cases sum
to three times a tenant's hard monthly budget. The admitted spend stays within the budget
plus the largest single worst case; every refusal has its usage row; when the processes
have exited nothing stays reserved, and the window's spend equals the ledger's.

The children run with production defaults, budget leases included (each process reserves
ahead and admits from memory far from the limit). Prices are chosen so that a call costs
its worst case or close to it (output tokens only, max_tokens near the stub's 5-token
answer): a bound that held only because calls cost far less than reserved would prove
nothing.
"""

import json
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from django.db.models import Sum

from llm_routing.providers import get_provider
from llm_routing.router import _Candidate, _prompt_bound, _worst_case
from tests.llm_routing.test_processes import database_url
from tests.processes import BASE_DIR, production_env
from usage.models import Budget, BudgetHold, BudgetWindow, ModelUsageStat, Price
from usage.statuses import Status

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHILD = str(Path(__file__).with_name("budget_child.py"))
PROCESSES, THREADS, REQUESTS = 4, 8, 25
SIZES = (5, 6, 8)  # max_tokens of the requests; the stub answers 5 tokens
MODEL = "budget-model"
HELLO = [{"role": "user", "content": "hello"}]


def test_admitted_spend_stays_within_the_budget_plus_one_worst_case(
    make_tenant, stub_provider, settings, tmp_path
):
    Price.objects.create(
        provider="groq", model=MODEL, input_per_million=0, output_per_million=1000,
        effective_from="2020-01-01T00:00:00Z",
    )
    tenant = make_tenant(
        slug="crowd", keys=("groq",), preferred_provider="groq",
        provider_models={"groq": MODEL}, failover_order=[],
        daily_quotas={"groq": {"requests": 10_000_000}},
    )
    candidate = _Candidate(get_provider("groq"), MODEL)
    worst = {
        n: _worst_case(candidate, _prompt_bound(HELLO, {"max_tokens": n}), {"max_tokens": n})
        for n in SIZES
    }
    sizes_sent = [SIZES[(t + n) % len(SIZES)] for t in range(THREADS) for n in range(REQUESTS)]
    total_worst = PROCESSES * sum(worst[n] for n in sizes_sent)
    limit_pusd = total_worst // 3 // 10**6 * 10**6  # the budget: a third of all worst cases
    Budget.objects.create(
        tenant=tenant, period="month", limit_usd=Decimal(limit_pusd) / 10**12, mode="hard"
    )

    env = production_env(
        tmp_path,
        DATABASE_URL=database_url(),
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        GROQ_BASE_URL=stub_provider.base_url("groq"),
        USAGE_SPILL_DIR=str(tmp_path / "spill"),
        LOG_LEVEL="ERROR",
        PYTHONPATH=str(BASE_DIR),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    children = []
    for n in range(PROCESSES):
        out = tmp_path / f"child-{n}.json"
        children.append((out, subprocess.Popen(
            [sys.executable, CHILD, str(out), str(THREADS), str(REQUESTS), tenant.slug,
             ",".join(map(str, SIZES))],
            cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )))
    calls = []
    for out, child in children:
        _, stderr = child.communicate(timeout=240)
        assert child.returncode == 0, stderr[-3000:]
        calls += json.loads(out.read_text())["calls"]

    outcomes = Counter(call[2] for call in calls)
    assert len(calls) == PROCESSES * THREADS * REQUESTS
    assert set(outcomes) == {"ok", "budget"}, outcomes  # nothing else went wrong
    rows = ModelUsageStat.objects.filter(tenant_id=tenant.pk)
    answered = rows.filter(status=Status.SUCCESS)
    refused = rows.filter(status=Status.BUDGET_EXCEEDED)
    assert answered.count() == outcomes["ok"] == stub_provider.served("groq", MODEL)
    assert refused.count() == outcomes["budget"] > 0

    admitted = answered.aggregate(total=Sum("cost_pusd"))["total"]
    largest = max(worst.values())
    print(
        f"\nbudget {limit_pusd / 1e12:.6f} USD, worst cases sent {total_worst / 1e12:.6f} USD;"
        f" admitted {admitted / 1e12:.6f} USD in {outcomes['ok']} calls,"
        f" {outcomes['budget']} refused; largest worst case {largest / 1e12:.6f} USD"
    )
    assert admitted <= limit_pusd + largest
    # The budget was used, not refused wholesale: leases handed back what they did not spend.
    assert admitted >= limit_pusd // 2

    window = BudgetWindow.objects.get(tenant_id=tenant.pk, period="month")
    assert window.spent_pusd == admitted
    assert window.refused == outcomes["budget"]
    held = BudgetHold.objects.filter(window=window).aggregate(total=Sum("amount_pusd"))
    assert (held["total"] or 0) == 0  # every process gave back what it held

