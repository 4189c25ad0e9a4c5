"""The spill guard (usage/spill_guard.py): records go to disk while a write hangs, and a
write that succeeds after all still leaves each record stored once."""

import sqlite3
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection

from tests.usage.conftest import raw_call, track_args, wait_for
from usage.models import ModelUsageStat
from usage.tracker import Tracker
from usage.writer import WRITE_LOCK_KEY

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def _writes_blocked():
    """Make every usage write wait: SQLite's write lock, or on PostgreSQL the writers'
    advisory lock taken exclusively (writes then hang after BEGIN, before COPY)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        holder = sqlite3.connect(s["NAME"], timeout=30)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.rollback()
            holder.close()
        return
    with psycopg.connect(dbname=s["NAME"], user=s["USER"], password=s.get("PASSWORD") or None,
                         host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432,
                         autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK_KEY,))
        try:
            yield
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK_KEY,))


def test_a_write_that_hangs_is_spilled_meanwhile_and_each_record_is_stored_once(
    tmp_path, make_tenant, catalogue_prices
):
    tenant = make_tenant()
    tracker = Tracker(spill_dir=tmp_path, batch_size=500, interval=0.05,
                      outage_spill_seconds=0.4)
    tracker.track(raw_call(tenant.pk, 0))
    assert tracker.flush(timeout=30)  # connected, model ids known
    try:
        with _writes_blocked():
            for i in range(1, 301):
                tracker.track(raw_call(tenant.pk, i))
            # The batch in the hung write and what arrives after it: all on disk, though the
            # database never said no.
            wait_for(lambda: tracker.stats()["spilled"] >= 300, what="the hung batch spilled")
            for i in range(301, 401):
                tracker.track(raw_call(tenant.pk, i))
            wait_for(lambda: tracker.stats()["spilled"] >= 400, what="later records spilled")
            assert tracker.stats()["written"] == 1
        assert tracker.flush(timeout=60), tracker.stats()
    finally:
        tracker.stop(timeout=5)

    stats = tracker.stats()
    rows = ModelUsageStat.objects.filter(tenant_id=tenant.pk)
    assert rows.count() == 401 and stats["written"] == 401 and stats["dropped"] == 0
    expected = {track_args(tenant.pk, i)["request_id"] for i in range(401)}
    assert set(rows.values_list("request_id", flat=True)) == expected
    assert stats["replayed"] == stats["spilled"] and not list(tmp_path.glob("*.jsonl"))


def test_records_stay_off_the_disk_while_the_database_answers(
    tmp_path, make_tenant, catalogue_prices
):
    tenant = make_tenant()
    tracker = Tracker(spill_dir=tmp_path, batch_size=100, interval=0.01)
    try:
        for i in range(1000):
            tracker.track(raw_call(tenant.pk, i))
        assert tracker.flush(timeout=30)
    finally:
        tracker.stop(timeout=5)
    assert tracker.stats()["written"] == 1000 and tracker.stats()["spilled"] == 0
    assert not list(tmp_path.iterdir())
