"""Issue 13, defect 1: a scheduled job reaches the database it was installed for.

`crontab add` runs with the production settings in an env file (ENV_FILE); a stand-in
crontab program records the table it is given (the real user crontab is never touched);
one of the lines is then run as cron runs it, in an empty environment (`env -i`). It must
refresh the "production" SQLite file named only in the env file (not the checkout's
default database), and its output must land in the log file, not in cron mail.
"""

import sqlite3
import subprocess
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.processes import BASE_DIR, manage, production_env

pytestmark = pytest.mark.slow

FAKE_CRONTAB = """\
#!/bin/sh
# crontab(1) for tests: `-l` prints the table, `FILE` installs FILE as the table.
table="$(dirname "$0")/crontab.table"
if [ "$1" = "-l" ]; then cat "$table" 2>/dev/null; exit 0; fi
cp "$1" "$table"
"""

SEED = textwrap.dedent("""
    import uuid, usage
    from tenants.models import Tenant
    tenant = Tenant.objects.create(name="Production", slug="production")
    for _ in range(3):
        usage.track(tenant_id=tenant.pk, provider="groq", model="llama-3.3-70b-versatile",
                    status="success", request_id=uuid.uuid4(), attempt=1, prompt_tokens=10,
                    completion_tokens=5, latency_ms=120)
""")


@pytest.fixture
def production(tmp_path):
    """An env file holding production settings (a scratch SQLite file as DATABASE_URL), and
    the environment `crontab add` is run in: nothing but ENV_FILE, PATH and HOME."""
    database = tmp_path / f"prod-{uuid.uuid4().hex[:8]}.sqlite3"
    crontab = tmp_path / "crontab"
    crontab.write_text(FAKE_CRONTAB)
    crontab.chmod(0o755)
    settings = production_env(
        tmp_path,
        DATABASE_URL=f"sqlite:///{database}",
        CRONTAB_EXECUTABLE=str(crontab),
        CRON_LOG_FILE=str(tmp_path / "log" / "cron.log"),
        USAGE_SPILL_DIR=str(tmp_path / "spill"),
    )
    del settings["PATH"], settings["HOME"]
    env_file = tmp_path / "production.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    shell = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ENV_FILE": str(env_file)}
    yield {
        "database": database,
        "settings": settings,
        "shell": shell,
        "table": tmp_path / "crontab.table",
        "log": tmp_path / "log" / "cron.log",
    }
    # The usage commands' SQLite locks sit in the checkout's var/, named after the database.
    for lock in Path(BASE_DIR, "var").glob(f"{database.name}.*.lock"):
        lock.unlink(missing_ok=True)


def _ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _summary(database: Path) -> tuple[int, int]:
    with sqlite3.connect(database) as db:
        watermark = db.execute("SELECT coalesce(max(watermark), 0) FROM usage_summary_state")
        requests = db.execute("SELECT coalesce(sum(requests), 0) FROM model_usage_summary")
        return watermark.fetchone()[0], requests.fetchone()[0]


def test_an_installed_job_run_in_an_empty_environment_refreshes_the_production_database(
    production,
):
    shell = production["shell"]
    _ok(manage(shell, "migrate", "--noinput"))
    _ok(manage({**shell, "USAGE_TRACKER_SYNC": "true"}, "shell", "-c", SEED))
    assert _summary(production["database"]) == (0, 0)

    installed = _ok(manage(shell, "crontab", "add"))
    assert str(production["log"]) in installed.stdout
    table = production["table"].read_text()
    lines = [line for line in table.splitlines() if line.strip()]
    # the summary refresh, the prune, the operations snapshot, the budget alerts
    assert len(lines) == 4
    assert any(line.startswith("*/15 * * * * ") for line in lines)
    assert any(line.startswith("* * * * * ") for line in lines)
    for secret in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL"):
        assert production["settings"][secret] not in table  # the crontab holds no setting
    hourly = next(line for line in lines if line.startswith("7 * * * * "))
    command = hourly.split(None, 5)[5].rsplit(" # ", 1)[0]

    ran = subprocess.run(
        ["env", "-i", "/bin/sh", "-c", command],
        cwd="/", capture_output=True, text=True, timeout=120,
    )

    assert ran.returncode == 0 and ran.stdout == "" and ran.stderr == ""  # no cron mail
    watermark, requests = _summary(production["database"])
    assert watermark > 0 and requests == 3
    log = production["log"].read_text()
    assert "refresh_usage_summary: usage summary incremental: 3 new rows" in log
    assert log.splitlines()[0][:4].isdigit()  # each line starts with its time


def test_add_refuses_when_this_environment_sets_what_the_env_file_does_not(production):
    elsewhere = f"sqlite:///{production['database'].with_name('somewhere-else.sqlite3')}"
    shell = {**production["shell"], "DATABASE_URL": elsewhere}

    refused = manage(shell, "crontab", "add")

    assert refused.returncode == 1
    assert "DATABASE_URL" in refused.stderr and "Nothing installed" in refused.stderr
    assert elsewhere not in refused.stderr + refused.stdout  # a setting may be a secret
    assert "Traceback" not in refused.stderr
    assert not production["table"].exists()
