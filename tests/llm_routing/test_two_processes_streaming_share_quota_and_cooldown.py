"""Streams in separate processes share a tenant's quota and cooldowns, as complete()
does (issue 9, acceptance 5)."""

import subprocess
import sys
from pathlib import Path

import pytest

from tenants.models import Tenant
from tests.llm_routing.conftest import usage_rows
from tests.llm_routing.test_processes import child_env
from tests.processes import BASE_DIR

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHILD = str(Path(__file__).with_name("stream_child.py"))


@pytest.fixture
def stream_in_a_process(stub_provider, settings):
    env = {**child_env(stub_provider, settings), "DJANGO_SETTINGS_MODULE": "config.settings",
           "PYTHONPATH": str(BASE_DIR)}

    def run(slug: str) -> str:
        done = subprocess.run([sys.executable, CHILD, slug], env=env, capture_output=True,
                              text=True, timeout=120, cwd=BASE_DIR)
        assert done.returncode == 0, done.stderr
        assert "text: Hello from the stub provider." in done.stdout
        return done.stdout

    return run


def answered_by(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("answered by")).split()[2]


def test_two_processes_streaming_share_a_quota(make_tenant, stream_in_a_process):
    make_tenant(slug="sq", preferred_provider="llm7", quota_threshold=1.0,
                daily_quotas={"llm7": {"requests": 2}})
    assert answered_by(stream_in_a_process("sq")) == "llm7"
    assert answered_by(stream_in_a_process("sq")) == "llm7"
    third = stream_in_a_process("sq")
    assert answered_by(third) == "openrouter"
    assert "skipped: llm7: daily request quota" in third
    rows = usage_rows(Tenant.objects.get(slug="sq"))
    assert [row[0] for row in rows].count("llm7") == 2


def test_two_processes_streaming_share_a_cooldown(make_tenant, stub_provider, stream_in_a_process):
    make_tenant(slug="sc")
    stub_provider.enqueue("groq", 429, {"retry-after": "600"}, {"error": {"message": "slow"}})
    assert answered_by(stream_in_a_process("sc")) == "openrouter"
    second = stream_in_a_process("sc")
    assert "skipped: groq: cooling down until" in second
    assert answered_by(second) == "openrouter"
    assert stub_provider.chat_requests("groq") == 1
