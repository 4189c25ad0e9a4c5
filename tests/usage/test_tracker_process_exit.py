"""Acceptance 2, with real processes: a normal exit writes (or spills) everything; a SIGKILL
loses nothing that reached the spill file."""

import io
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from tests.usage.conftest import PYTHON, child_env, database_url
from usage.models import ModelUsageStat

CHILD = str(Path(__file__).with_name("child_tracker.py"))


def _unreachable_database_url(tmp_path) -> str:
    if connection.vendor == "postgresql":
        return "postgres://postgres@127.0.0.1:1/unreachable"  # nothing listens on port 1
    return f"sqlite:///{tmp_path}/no-such-directory/db.sqlite3"


def _request_ids(tenant_id, count):
    return {uuid.uuid5(uuid.NAMESPACE_OID, f"{tenant_id}-{i}") for i in range(count)}


def _spilled_lines(directory: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in directory.iterdir())


def _replay(settings, directory) -> None:
    settings.USAGE_SPILL_DIR = directory
    call_command("replay_usage_spill", stdout=io.StringIO())


pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_normal_exit_writes_every_buffered_record(tmp_path, make_tenant, catalogue_prices):
    tenant = make_tenant()
    env = child_env(DATABASE_URL=database_url(), USAGE_SPILL_DIR=tmp_path,
                    USAGE_FLUSH_INTERVAL=60)  # the writer would not wake before exit on its own
    done = subprocess.run([PYTHON, CHILD, "exit", str(tenant.pk), "3000"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = ModelUsageStat.objects.filter(tenant_id=tenant.pk)
    assert set(rows.values_list("request_id", flat=True)) == _request_ids(tenant.pk, 3000)
    assert rows.count() == 3000


def test_a_normal_exit_with_the_database_down_spills_everything_for_a_later_replay(
    tmp_path, settings, make_tenant, catalogue_prices
):
    tenant = make_tenant()
    env = child_env(DATABASE_URL=_unreachable_database_url(tmp_path), USAGE_SPILL_DIR=tmp_path,
                    USAGE_EXIT_TIMEOUT=0.5)
    done = subprocess.run([PYTHON, CHILD, "exit", str(tenant.pk), "2000"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _spilled_lines(tmp_path) == 2000

    _replay(settings, tmp_path)
    rows = ModelUsageStat.objects.filter(tenant_id=tenant.pk)
    assert set(rows.values_list("request_id", flat=True)) == _request_ids(tenant.pk, 2000)
    assert rows.count() == 2000 and not list(tmp_path.iterdir())


def test_a_killed_process_loses_no_record_that_reached_its_spill_file(
    tmp_path, settings, make_tenant, catalogue_prices
):
    tenant = make_tenant()
    env = child_env(DATABASE_URL=_unreachable_database_url(tmp_path), USAGE_SPILL_DIR=tmp_path,
                    USAGE_MEMORY_LIMIT=100, USAGE_BATCH_SIZE=50, USAGE_FLUSH_INTERVAL=0.01)
    child = subprocess.Popen([PYTHON, CHILD, "spill-and-wait", str(tenant.pk), "2000"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(child.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=90)
    child.kill()  # SIGKILL: no atexit, no flush
    child.wait(timeout=30)
    assert line and line[0].strip(), child.stderr.read()
    reported = int(line[0])
    on_disk = _spilled_lines(tmp_path)
    assert 1900 <= reported <= on_disk <= 2000

    _replay(settings, tmp_path)
    stored = set(
        ModelUsageStat.objects.filter(tenant_id=tenant.pk).values_list("request_id", flat=True)
    )
    assert len(stored) == on_disk
    assert stored <= _request_ids(tenant.pk, 2000)
