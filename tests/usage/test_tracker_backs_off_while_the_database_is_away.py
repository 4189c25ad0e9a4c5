"""Issue 13, defect 2: with the database unreachable, neither a flush() nor the exit may turn
the writer's backoff (0.05 s doubling to 2 s) into a spin of connection attempts."""

import json
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from tests.usage.conftest import PYTHON, child_env
from tests.usage.tcp_proxy import TcpProxy

CHILD = str(Path(__file__).with_name("child_tracker.py"))

# Attempts the backoff allows in 2 s: at 0, 0.05, 0.15, 0.35, 0.75 and 1.55 s; one of slack.
ATTEMPTS_IN_TWO_SECONDS = 7

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _unreachable(tmp_path, proxy) -> str:
    """A database URL nothing answers on: PostgreSQL behind a cut proxy (it counts the
    connections), SQLite in a directory that does not exist."""
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        return f"postgres://{s['USER']}@127.0.0.1:{proxy.port}/{s['NAME']}"
    return f"sqlite:///{tmp_path}/no-such-directory/db.sqlite3"


def test_a_flush_and_an_exit_against_an_unreachable_database_back_off(tmp_path, make_tenant):
    tenant = make_tenant()
    proxy = TcpProxy(("127.0.0.1", 1)).start()
    proxy.cut()  # accepts and closes every connection, and counts them
    env = child_env(DATABASE_URL=_unreachable(tmp_path, proxy), USAGE_SPILL_DIR=tmp_path / "spill",
                    USAGE_EXIT_TIMEOUT=2)
    try:
        done = subprocess.run([PYTHON, CHILD, "flush", str(tenant.pk), "500", "2"], env=env,
                              capture_output=True, text=True, timeout=120)
    finally:
        proxy.stop()
    assert done.returncode == 0, done.stderr
    after_flush, after_exit = (json.loads(line) for line in done.stdout.splitlines()[-2:])

    # Before the fix: thousands of attempts in each of the two 2-second waits.
    assert 1 <= after_flush["retried"] <= ATTEMPTS_IN_TWO_SECONDS, after_flush
    assert after_exit["retried"] - after_flush["retried"] <= ATTEMPTS_IN_TWO_SECONDS, after_exit
    if connection.vendor == "postgresql":
        # libpq may open a second connection per attempt (SSL, then plain).
        assert 1 <= proxy.accepted <= 2 * after_exit["retried"], proxy.accepted
    # Nothing was lost meanwhile: the exit spilled every record.
    assert after_exit["spilled"] == 500 and after_exit["buffered"] == 0, after_exit
