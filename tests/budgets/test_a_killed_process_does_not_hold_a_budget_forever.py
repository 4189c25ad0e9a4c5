"""A process SIGKILLed while its call is in flight cannot give its reservation back: the
hold stops counting once it has not been renewed for USAGE_BUDGET_HOLD_SECONDS, so the
tenant is blocked for that long at most, never for the rest of the window (issue 12)."""

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from llm_routing import BudgetExceeded, complete
from llm_routing.providers import get_provider
from llm_routing.router import _Candidate, _prompt_bound, _worst_case
from tests.llm_routing.test_processes import child_env
from tests.processes import BASE_DIR
from usage.models import Budget, BudgetHold, Price

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHILD = str(Path(__file__).parents[1] / "llm_routing" / "stream_child.py")
MODEL = "budget-model"
HOLD_SECONDS = 3


def test_a_dead_holders_reservation_expires(make_tenant, stub_provider, settings):
    settings.USAGE_BUDGET_HOLD_SECONDS = HOLD_SECONDS
    Price.objects.create(
        provider="groq", model=MODEL, input_per_million=1000, output_per_million=1000,
        effective_from="2020-01-01T00:00:00Z",
    )
    tenant = make_tenant(
        slug="killed", keys=("groq",), preferred_provider="groq",
        provider_models={"groq": MODEL}, failover_order=[],
    )
    # The child streams with no max_tokens ("hi"): its worst case is the default 4,096
    # output tokens. The budget is a little less: the child's call is admitted (the room
    # was not spent), and then nothing else fits while it holds its worst case.
    candidate = _Candidate(get_provider("groq"), MODEL)
    hi = [{"role": "user", "content": "hi"}]
    child_worst = _worst_case(candidate, _prompt_bound(hi, {}), {})
    limit = Decimal(child_worst * 9 // 10) / 10**12
    Budget.objects.create(tenant=tenant, period="month", limit_usd=limit, mode="hard")
    stub_provider.configure("groq", stream_chunks=2000, stream_chunk_delay=0.05)

    env = {**child_env(stub_provider, settings), "DJANGO_SETTINGS_MODULE": "config.settings",
           "PYTHONPATH": str(BASE_DIR), "USAGE_BUDGET_HOLD_SECONDS": str(HOLD_SECONDS)}
    child = subprocess.Popen([sys.executable, CHILD, tenant.slug], env=env, cwd=BASE_DIR,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not stub_provider.chat_requests("groq"):
            assert child.poll() is None, child.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "the child never started its stream"
            time.sleep(0.05)
        hold = BudgetHold.objects.get(window__tenant_id=tenant.pk)
        assert hold.amount_pusd == child_worst
        with pytest.raises(BudgetExceeded):  # the child's worst case fills the budget
            complete(tenant=tenant, messages=hi, max_tokens=8)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        killed_at = time.monotonic()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    while time.monotonic() - killed_at < HOLD_SECONDS - 1:
        with pytest.raises(BudgetExceeded):  # still counted: it might be alive
            complete(tenant=tenant, messages=hi, max_tokens=8)
        time.sleep(0.5)
    time.sleep(max(0.0, HOLD_SECONDS + 0.5 - (time.monotonic() - killed_at)))
    assert complete(tenant=tenant, messages=hi, max_tokens=8).provider == "groq"
    assert not BudgetHold.objects.filter(pk=hold.pk).exists()  # the dead hold was removed
