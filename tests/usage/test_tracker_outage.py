"""Acceptance 1: records tracked while PostgreSQL is unreachable are all written, once."""

import pytest
from django.db import connection

from tests.usage.conftest import raw_call, track_args, wait_for
from tests.usage.tcp_proxy import TcpProxy
from usage.models import ModelUsageStat
from usage.tracker import Tracker


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_ten_thousand_records_tracked_through_a_database_outage_are_written_exactly_once(
    tmp_path, make_tenant, catalogue_prices
):
    if connection.vendor != "postgresql":
        pytest.skip(
            "the outage is a TCP proxy cut between the tracker and a database server; "
            "SQLite has no server to cut off (run with DATABASE_URL=postgres://...)"
        )
    tenant = make_tenant()
    s = connection.settings_dict
    proxy = TcpProxy((s["HOST"] or "127.0.0.1", int(s["PORT"] or 5432))).start()
    tracker = Tracker(
        connection_overrides={"host": "127.0.0.1", "port": proxy.port, "connect_timeout": 2},
        batch_size=250,
        interval=0.01,
        memory_limit=2000,
        spill_dir=tmp_path,
    )
    try:
        for i in range(3000):
            tracker.track(raw_call(tenant.pk, i))
        wait_for(lambda: tracker.stats()["written"] >= 1000, what="writes before the outage")

        proxy.cut()
        for i in range(3000, 10_000):
            tracker.track(raw_call(tenant.pk, i))
        wait_for(lambda: tracker.stats()["spilled"] > 0, what="records spilled during the outage")
        during = tracker.stats()
        assert during["retried"] > 0 and during["written"] < 10_000

        proxy.restore()
        assert tracker.flush(timeout=120), tracker.stats()
    finally:
        tracker.stop(timeout=10)
        proxy.stop()

    stats = tracker.stats()
    assert stats["written"] == 10_000 and stats["dropped"] == 0 and stats["buffered"] == 0
    rows = ModelUsageStat.objects.filter(tenant_id=tenant.pk)
    assert rows.count() == 10_000
    expected = {track_args(tenant.pk, i)["request_id"] for i in range(10_000)}
    assert set(rows.values_list("request_id", flat=True)) == expected
    assert not list(tmp_path.glob("*.jsonl")), "spill files are removed once replayed"
