"""Hardening acceptance 2 (issue 8, item 9): a process killed while the database is away
loses at most about the last second of tracked records.

A real child process tracks about 1,000 records a second and reports what it tracked, with
times. The database goes away under it, refusing (PostgreSQL: the TCP proxy between them is
cut, so every write fails at once) or hanging (PostgreSQL: the proxy turns into a black
hole; SQLite: another connection holds the write lock, so the writer waits in a write that
does not end). The child keeps tracking for a few seconds and is killed with SIGKILL. After
a replay of the spill files, every record tracked more than 1.5 s before the kill is
stored, exactly once, and nothing was stored that the child did not track.
"""

import io
import sqlite3
import subprocess
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count

from tests.usage.conftest import PYTHON, child_env, database_url, wait_for
from tests.usage.tcp_proxy import TcpProxy
from usage.models import ModelUsageStat

CHILD = str(Path(__file__).with_name("child_tracker.py"))
GROUP = 5  # child_tracker.STREAM_GROUP
OUTAGE_SECONDS = 3.5  # how long the child tracks after the database went away
LOSS_BOUND_SECONDS = 1.5  # "about a second", with room for a loaded machine

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class _Outage:
    """The database as the child sees it: reachable until ``cut()``."""

    def __init__(self, kind: str):
        self.kind, self.proxy, self.lock = kind, None, None
        if connection.vendor == "sqlite" and kind == "refusing":
            pytest.skip("a SQLite file does not refuse an open process; its outage is a lock")
        if connection.vendor == "postgresql":
            s = connection.settings_dict
            self.proxy = TcpProxy((s["HOST"] or "127.0.0.1", int(s["PORT"] or 5432))).start()
            auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
            self.url = f"postgres://{auth}@127.0.0.1:{self.proxy.port}/{s['NAME']}"
        else:
            self.url = database_url()

    def cut(self) -> None:
        if self.proxy is not None and self.kind == "refusing":
            self.proxy.cut()
        elif self.proxy is not None:
            self.proxy.black_hole()
        else:
            self.lock = sqlite3.connect(connection.settings_dict["NAME"], timeout=30)
            self.lock.execute("BEGIN EXCLUSIVE")

    def end(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self.lock is not None:
            self.lock.rollback()
            self.lock.close()
            self.lock = None


def _read_report(path: Path) -> list[tuple[int, float]]:
    """(last index tracked, when) per complete line."""
    lines = path.read_text().split("\n")[:-1]  # a torn last line is ignored
    return [(int(index), float(when)) for index, when in (line.split() for line in lines)]


def _request_id(tenant_id, i) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_OID, f"{tenant_id}-{i}")


@contextmanager
def _child(env, *args):
    process = subprocess.Popen([PYTHON, CHILD, *args], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


@pytest.mark.parametrize("kind", ["refusing", "hanging"])
def test_a_process_killed_during_an_outage_loses_at_most_the_last_second_of_records(
    kind, tmp_path, settings, make_tenant, catalogue_prices
):
    outage = _Outage(kind)
    tenant = make_tenant()
    spill_dir, report = tmp_path / "spill", tmp_path / "report"
    env = child_env(DATABASE_URL=outage.url, USAGE_SPILL_DIR=spill_dir)  # default settings
    stored = ModelUsageStat.objects.filter(tenant_id=tenant.pk)
    try:
        with _child(env, "stream", str(tenant.pk), str(report)) as child:
            wait_for(lambda: stored.exists() or child.poll() is not None, timeout=60,
                     what="the child's first rows")
            assert child.poll() is None, child.stderr.read()
            outage.cut()
            cut_at = time.monotonic()
            wait_for(lambda: report.exists() and _read_report(report)[-1][1] > cut_at
                     + OUTAGE_SECONDS, timeout=60, what="tracking through the outage")
            killed_at = time.monotonic()
            child.kill()  # SIGKILL: no atexit hook, no flush
    finally:
        outage.end()

    settings.USAGE_SPILL_DIR = spill_dir
    call_command("replay_usage_spill", stdout=io.StringIO())

    tracked = _read_report(report)
    last_tracked = tracked[-1][0] + GROUP  # the child may have tracked a group past its report
    safe_until = killed_at - LOSS_BOUND_SECONDS
    safe = max(index for index, when in tracked if when < safe_until)
    during_outage = [index for index, when in tracked if cut_at < when < safe_until]
    assert len(during_outage) * GROUP > 1000, "the child tracked through the outage"

    stored_ids = set(stored.values_list("request_id", flat=True))
    missing = [i for i in range(safe + 1) if _request_id(tenant.pk, i) not in stored_ids]
    assert not missing, f"{len(missing)} records lost, from index {missing[0]} (cut at "\
        f"index {during_outage[0]}, {safe} tracked {LOSS_BOUND_SECONDS} s before the kill)"
    assert stored_ids <= {_request_id(tenant.pk, i) for i in range(last_tracked + 1)}
    doubles = stored.values("request_id").annotate(n=Count("id")).filter(n__gt=1)
    assert not doubles.exists() and stored.count() == len(stored_ids)
