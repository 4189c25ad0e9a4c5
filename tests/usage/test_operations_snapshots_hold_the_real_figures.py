"""``snapshot_operations`` (usage/operations.py) stores what the Operations screen draws:
table and index sizes as the database reports them, the newest ledger row, the summary's
lag and last refresh, spill files and refused records, and the metrics' histograms and
counters; one snapshot per minute, pruned after the retention, safe to run twice."""

import importlib
import json
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config import metrics
from tests.usage.test_commands import _run, _write
from usage import operations
from usage.models import ModelUsageStat, OperationsSnapshot


def _figures() -> dict:
    return OperationsSnapshot.objects.order_by("-taken_at").first().figures


def _ledger_bytes(figures) -> int:
    sizes = figures["sizes"]["tables"]["model_usage_stats"]
    return sizes["table"] + sizes["indexes"]


def _database_says(table: str) -> int:
    """The table's size with its indexes, asked of the database another way."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_total_relation_size(%s)", [table])
        else:
            cursor.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE name IN "
                "(SELECT name FROM sqlite_master WHERE tbl_name = %s)",
                [table],
            )
        return int(cursor.fetchone()[0])


def test_sizes_are_the_databases_own_and_grow_with_the_ledger(make_tenant):
    tenant = make_tenant()
    _run("snapshot_operations")
    empty = _figures()
    _write(tenant, at=timezone.now(), count=3000)
    _run("refresh_usage_summary")
    line = _run("snapshot_operations")
    full = _figures()
    assert line.count("\n") == 0 and "operations snapshot" in line
    expected_method = "postgresql" if connection.vendor == "postgresql" else "dbstat"
    assert full["sizes"]["method"] == expected_method
    for table in ("model_usage_stats", "model_usage_summary", "model_usage_day_summary"):
        assert sum(full["sizes"]["tables"][table].values()) == _database_says(table)
    # 3,000 rows take at least 40 bytes each, table and indexes together.
    assert _ledger_bytes(full) - _ledger_bytes(empty) >= 3000 * 40
    assert full["sizes"]["tables"]["model_usage_stats"]["indexes"] > 0


def test_the_last_write_lag_and_refresh_come_from_the_rows_and_the_summary_state(make_tenant):
    tenant = make_tenant()
    _run("snapshot_operations")
    assert _figures()["ledger"]["last_write_at"] is None
    _write(tenant, at=timezone.now() - timedelta(minutes=30), count=2)
    _run("refresh_usage_summary")
    # A late row: written last, created 10 minutes ago, not yet in the summary.
    late = timezone.now() - timedelta(minutes=10)
    _write(tenant, at=late, count=1)
    _run("snapshot_operations")
    figures = _figures()
    newest = ModelUsageStat.objects.order_by("-seq").first()
    assert datetime.fromisoformat(figures["ledger"]["last_write_at"]) == newest.created_at
    summary = figures["summary"]
    assert summary["watermark"] == newest.seq - 1
    assert 600 <= summary["lag_seconds"] < 3600
    assert summary["refresh_seconds"] is not None and summary["refresh_seconds"] >= 0
    assert datetime.fromisoformat(summary["refreshed_at"]) <= timezone.now()


def test_spill_files_waiting_and_refused_records_are_counted(db, settings, tmp_path):
    settings.USAGE_SPILL_DIR = tmp_path
    (tmp_path / "usage-host-123-1.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
    (tmp_path / "replaying-host-9-usage-host-8-2.jsonl").write_text('{"a": 3}\n')
    (tmp_path / "refused-host-123.jsonl").write_text('{"x": 1}\n{"x": 2}\n{"x": 3}\n')
    (tmp_path / "notes.txt").write_text("not a spill file")
    _run("snapshot_operations")
    spill = _figures()["spill"]
    assert (spill["files_waiting"], spill["refused_records"]) == (2, 3)
    assert spill["bytes_waiting"] == len('{"a": 1}\n{"a": 2}\n') + len('{"a": 3}\n')


def test_a_missing_spill_directory_is_no_error(db, settings, tmp_path):
    settings.USAGE_SPILL_DIR = tmp_path / "never-made"
    _run("snapshot_operations")
    assert _figures()["spill"]["files_waiting"] == 0


def test_the_metrics_histograms_and_counters_are_stored_cumulative(db):
    _run("snapshot_operations")
    before = _figures()
    for seconds in (0.000002, 0.000003, 0.00004):
        metrics.TRACK_COST.observe(seconds)
    metrics.cache("decrypted_key", True)
    metrics.cache("decrypted_key", False)
    metrics.cache("decrypted_key", True)
    _run("snapshot_operations")  # the same minute: it replaces the first one
    after = _figures()
    track = after["histograms"]["track_caller_seconds"]
    assert track["count"] - before["histograms"]["track_caller_seconds"]["count"] == 3
    buckets = dict(track["buckets"])
    old = dict(before["histograms"]["track_caller_seconds"]["buckets"])
    assert buckets["2.5e-06"] - old["2.5e-06"] == 1  # 2 us
    assert buckets["5e-06"] - old["5e-06"] == 2  # 2 and 3 us
    assert buckets["+Inf"] - old["+Inf"] == 3
    keys = after["cache"]["decrypted_key"]
    assert keys["hit"] - before["cache"]["decrypted_key"]["hit"] == 2
    assert keys["miss"] - before["cache"]["decrypted_key"]["miss"] == 1
    assert after["metrics_scope"] == "this process only"
    json.dumps(after, allow_nan=False)  # plain JSON: no Infinity, no NaN


def test_one_snapshot_per_minute_and_old_ones_are_pruned(db, settings):
    settings.OPS_SNAPSHOT_RETENTION_DAYS = 30
    now = timezone.now().replace(second=10)
    old = OperationsSnapshot.objects.create(taken_at=now - timedelta(days=31), figures={})
    kept = OperationsSnapshot.objects.create(taken_at=now - timedelta(days=29), figures={})
    first = operations.take_snapshot(now=now)
    second = operations.take_snapshot(now=now + timedelta(seconds=30))
    assert (first.replaced, first.pruned) == (False, 1)
    assert (second.replaced, second.pruned) == (True, 0)
    taken = list(OperationsSnapshot.objects.values_list("taken_at", flat=True))
    assert taken == [kept.taken_at, now.replace(second=0, microsecond=0)]
    assert not OperationsSnapshot.objects.filter(pk=old.pk).exists()


def test_the_cron_job_takes_a_snapshot_every_few_minutes(db, capsys):
    [job] = [job for job in settings.CRONJOBS if list(job[2]) == ["snapshot_operations"]]
    minute, *rest = job[0].split()
    assert minute == f"*/{settings.OPS_SNAPSHOT_MINUTES}" and rest == ["*", "*", "*", "*"]
    module, _, name = job[1].rpartition(".")
    getattr(importlib.import_module(module), name)(*job[2])
    assert "operations snapshot taken" in capsys.readouterr().out
    assert OperationsSnapshot.objects.count() == 1


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's fallback")
def test_without_dbstat_sqlite_reports_the_whole_file_as_an_estimate(db, monkeypatch):
    from django.db import DatabaseError

    from usage import sizes

    def no_dbstat(cursor):
        raise DatabaseError("no such table: dbstat")

    monkeypatch.setattr(sizes, "_dbstat", no_dbstat)
    result = sizes.table_sizes()
    assert result.method == "estimate"
    [whole] = result.tables
    assert whole.table == sizes.WHOLE_FILE and whole.table_bytes > 0
