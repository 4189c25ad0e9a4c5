"""Two real processes (``manage.py llm_chat``) share quota and cooldown state."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from tenants.models import Tenant
from tests.llm_routing.conftest import usage_rows

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MANAGE = str(Path(django_settings.BASE_DIR) / "manage.py")


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{db['USER']}@{host}:{port}/{db['NAME']}"


def child_env(stub_provider, settings) -> dict[str, str]:
    """A child process's environment: this test database, these keys, the stub."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "GROQ_BASE_URL": stub_provider.base_url("groq"),
        "OPENROUTER_BASE_URL": stub_provider.base_url("openrouter"),
        "LLM7_BASE_URL": stub_provider.base_url("llm7"),
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def run_process(stub_provider, settings):
    env = child_env(stub_provider, settings)

    def run(tenant_slug: str) -> str:
        done = subprocess.run(
            [sys.executable, MANAGE, "llm_chat", "--tenant", tenant_slug, "hello"],
            env=env, capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run


def answered_by(output: str) -> str:
    line = next(line for line in output.splitlines() if line.startswith("answered by"))
    return line.split()[2]


def test_two_processes_share_a_tenants_quota(make_tenant, run_process):
    make_tenant(slug="shared", preferred_provider="llm7", quota_threshold=1.0,
                daily_quotas={"llm7": {"requests": 2}})
    # Three separate processes, one after the other: each sees what the others counted.
    assert answered_by(run_process("shared")) == "llm7"
    assert answered_by(run_process("shared")) == "llm7"
    third = run_process("shared")
    assert answered_by(third) == "openrouter"
    assert "skipped: llm7: daily request quota" in third
    tenant = Tenant.objects.get(slug="shared")
    assert [row[0] for row in usage_rows(tenant)].count("llm7") == 2


def test_two_processes_share_a_cooldown(make_tenant, stub_provider, run_process):
    make_tenant(slug="cooling")
    stub_provider.enqueue("groq", 429, {"retry-after": "600"}, {"error": {"message": "slow"}})
    out = run_process("cooling")
    assert "groq llama-3.3-70b-versatile -> rate_limited" in out
    assert answered_by(out) == "openrouter"
    out = run_process("cooling")
    assert "skipped: groq: cooling down until" in out
    assert answered_by(out) == "openrouter"
    assert stub_provider.chat_requests("groq") == 1
