import io
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from usage.locks import command_lock
from usage.models import ModelUsageStat, ModelUsageSummary
from usage.records import build
from usage.writer import write_records


def _write(tenant, *, at, count=1, model="llama-3.3-70b-versatile"):
    import uuid

    write_records([
        build(tenant_id=tenant.pk, provider="groq", model=model, status="success",
              request_id=uuid.uuid4(), attempt=1, prompt_tokens=10, completion_tokens=5,
              latency_ms=120, created_at=at)
        for _ in range(count)
    ])


def _run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def test_refresh_prints_one_line_and_is_incremental(make_tenant):
    tenant = make_tenant()
    _write(tenant, at=timezone.now(), count=3)
    first = _run("refresh_usage_summary")
    assert first.count("\n") == 0 and "incremental" in first and "3 new rows" in first
    again = _run("refresh_usage_summary")
    assert "0 new rows" in again
    assert sum(ModelUsageSummary.objects.values_list("requests", flat=True)) == 3


def test_refresh_refuses_to_run_while_another_holds_the_lock(make_tenant):
    # The other holder is another thread, hence another database session (PostgreSQL's
    # advisory locks are re-entrant within one session).
    held, release, result = threading.Event(), threading.Event(), []

    def other_run():
        try:
            with command_lock("refresh_usage_summary") as acquired:
                result.append(acquired)
                held.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=other_run)
    thread.start()
    try:
        assert held.wait(30) and result == [True]
        assert "another refresh is running" in _run("refresh_usage_summary")
    finally:
        release.set()
        thread.join(30)
    assert "incremental" in _run("refresh_usage_summary")


def test_refresh_rejects_a_bad_since_and_changes_nothing(make_tenant):
    tenant = make_tenant()
    _write(tenant, at=timezone.now())
    with pytest.raises(CommandError, match="ISO date"):
        _run("refresh_usage_summary", "--since", "last tuesday")
    assert not ModelUsageSummary.objects.exists()


def test_prune_deletes_old_rows_in_batches_and_keeps_their_summaries(make_tenant):
    tenant = make_tenant()
    now = timezone.now()
    _write(tenant, at=now - timedelta(days=100), count=250)
    _write(tenant, at=now - timedelta(days=1), count=5)
    _run("refresh_usage_summary")
    line = _run("prune_usage", "--older-than", "90d", "--batch-size", "100")
    assert "deleted 250 rows" in line
    assert ModelUsageStat.objects.count() == 5
    assert sum(ModelUsageSummary.objects.values_list("requests", flat=True)) == 255
    # A full rebuild cannot reach back past the prune: the old hours keep their summary.
    _run("refresh_usage_summary", "--full")
    assert sum(ModelUsageSummary.objects.values_list("requests", flat=True)) == 255


def test_prune_keeps_rows_the_summary_has_not_absorbed(make_tenant):
    tenant = make_tenant()
    _write(tenant, at=timezone.now() - timedelta(days=100), count=4)
    assert "deleted 0 rows" in _run("prune_usage")
    assert ModelUsageStat.objects.count() == 4


def test_prune_rejects_a_bad_age(db):
    with pytest.raises(CommandError, match="duration"):
        _run("prune_usage", "--older-than", "ninety days")


def test_replay_command_reports_nothing_to_do_on_an_empty_spill_directory(db, settings, tmp_path):
    settings.USAGE_SPILL_DIR = tmp_path
    assert _run("replay_usage_spill").startswith("usage spill: replayed 0 files")


def test_rows_from_the_far_past_arriving_late_land_in_their_own_hour(make_tenant):
    tenant = make_tenant()
    _run("refresh_usage_summary")
    old = datetime(2025, 1, 5, 10, 42, tzinfo=UTC)
    _write(tenant, at=old, count=2)
    _run("refresh_usage_summary")
    summary = ModelUsageSummary.objects.get(tenant_id=tenant.pk)
    assert summary.hour == old.replace(minute=0) and summary.requests == 2
