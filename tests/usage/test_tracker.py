import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

import usage
from tests.usage.conftest import raw_call, rows_of, track_args
from usage import spill
from usage.models import CostSource, ModelUsageStat, Status
from usage.records import normalise, to_json
from usage.tracker import Tracker


def _spill_file(directory, tenant, count) -> spill.SpillFile:
    spilled = spill.SpillFile(directory)
    spilled.append([normalise(raw_call(tenant.pk, i)) for i in range(count)])
    return spilled


@pytest.fixture
def sync(settings):
    settings.USAGE_TRACKER_SYNC = True


def test_synchronous_mode_writes_the_row_before_track_returns(sync, make_tenant):
    tenant = make_tenant()
    usage.track(**track_args(tenant.pk, prompt_tokens=12, completion_tokens=8, latency_ms=345))
    [row] = rows_of(tenant.pk)
    assert (row.model.provider, row.model.name) == ("groq", "llama-3.3-70b-versatile")
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (12, 8, 20)
    assert row.latency_ms == 345 and row.status == Status.SUCCESS and row.seq is not None


def test_track_never_raises_on_bad_input_and_counts_the_unstorable_record(sync, make_tenant):
    tenant = make_tenant()
    before = usage.tracker_stats()["dropped"]
    usage.track(**track_args("not-a-uuid"))
    usage.track(**track_args(tenant.pk, status="exploded", prompt_tokens=-5, latency_ms="x"))
    assert usage.tracker_stats()["dropped"] == before + 1
    [row] = rows_of(tenant.pk)
    assert row.status == Status.ERROR and row.error_type == "bad_status:exploded"
    assert row.prompt_tokens == 0 and row.latency_ms == 0


def test_the_background_writer_stores_every_tracked_record_once(transactional_db, tmp_path,
                                                                 make_tenant, catalogue_prices):
    tenant = make_tenant()
    tracker = Tracker(spill_dir=tmp_path, batch_size=100, interval=0.01)
    for i in range(1000):
        tracker.track(raw_call(tenant.pk, i))
    assert tracker.flush(timeout=30)
    stats = tracker.stats()
    assert stats["written"] == 1000 and stats["buffered"] == 0 and stats["dropped"] == 0
    assert stats["last_flush_at"] is not None
    assert ModelUsageStat.objects.filter(tenant_id=tenant.pk).count() == 1000
    tracker.stop(timeout=5)


def test_a_spill_file_replayed_twice_writes_each_record_once(db, tmp_path, make_tenant):
    tenant = make_tenant()
    spilled = _spill_file(tmp_path, tenant, 50)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(spilled.path.read_bytes())
    from usage.writer import write_records

    first = spill.replay_file(spilled.hand_over(), lambda b: write_records(b))
    second = spill.replay_file(copy, lambda b: write_records(b))
    assert first == (50, 50) and second == (50, 0)
    assert ModelUsageStat.objects.filter(tenant_id=tenant.pk).count() == 50
    assert not list(tmp_path.iterdir())


def test_a_torn_last_line_of_a_spill_file_is_skipped_and_the_rest_replayed(
    db, tmp_path, make_tenant
):
    tenant = make_tenant()
    spilled = _spill_file(tmp_path, tenant, 3)
    path = spilled.hand_over()
    with open(path, "a") as handle:
        handle.write('["half a rec')
    from usage.writer import write_records

    assert spill.replay_file(path, lambda b: write_records(b)) == (3, 3)


def test_created_at_in_the_past_is_kept_and_made_utc(sync, make_tenant):
    tenant = make_tenant()
    when = datetime(2025, 7, 1, 12, 30, tzinfo=UTC) - timedelta(days=3)
    usage.track(**track_args(tenant.pk, created_at=when))
    [row] = rows_of(tenant.pk)
    assert row.created_at == when
    # The id is time-ordered: its first 48 bits are the creation time in milliseconds.
    assert row.id.int >> 80 == int(when.timestamp() * 1000) and row.id.version == 7


def test_flush_with_nothing_tracked_returns_true_at_once(tmp_path):
    assert Tracker(spill_dir=tmp_path).flush(timeout=0) is True


def test_a_forked_child_forgets_the_parents_buffer_and_starts_its_own_writer(tmp_path):
    import os

    tracker = Tracker(spill_dir=tmp_path, interval=60)
    tracker._buffer.append(("parent's record",))
    tracker._running = True  # as if the writer were busy elsewhere
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        state = f"{len(tracker._buffer)},{tracker._running},{tracker._thread is None}"
        os.write(write, state.encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 100).decode() == "0,False,True" and status == 0
    assert len(tracker._buffer) == 1
    tracker._buffer.clear()
    tracker._running = False


def test_request_ids_and_attempts_are_kept_apart_per_attempt(sync, make_tenant):
    tenant = make_tenant()
    request_id = uuid.uuid4()
    usage.track(**track_args(tenant.pk, request_id=request_id, attempt=1, status="rate_limited",
                             error_type="http_429"))
    usage.track(**track_args(tenant.pk, request_id=request_id, attempt=2))
    rows = sorted(rows_of(tenant.pk), key=lambda r: r.attempt)
    assert [(r.attempt, r.get_status_display(), r.error_type) for r in rows] == [
        (1, "rate_limited", "http_429"), (2, "success", "")]
    assert {r.request_id for r in rows} == {request_id}


def test_a_record_the_database_refuses_is_set_aside_and_the_rest_are_written(
    transactional_db, tmp_path, make_tenant, catalogue_prices
):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite stores any text; PostgreSQL refuses a NUL character in a string")
    tenant = make_tenant()
    tracker = Tracker(spill_dir=tmp_path, batch_size=50, interval=0.01)
    poison = normalise(raw_call(tenant.pk, 0))._replace(error_type="nul\x00byte")
    tracker.track(poison)  # bypasses the checks track() arguments get
    for i in range(1, 100):
        tracker.track(raw_call(tenant.pk, i))
    assert tracker.flush(timeout=30)
    tracker.stop(timeout=5)
    assert ModelUsageStat.objects.filter(tenant_id=tenant.pk).count() == 99
    assert tracker.stats()["dropped"] == 1
    [refused] = tmp_path.glob("refused-*.jsonl")
    assert str(poison.id) in refused.read_text()


def test_strings_are_made_storable_before_they_reach_the_database(sync, make_tenant):
    tenant = make_tenant()
    usage.track(**track_args(tenant.pk, model="bad\x00name\ud800", error_type="x\x00" * 30))
    [row] = rows_of(tenant.pk)
    assert row.model.name == "badname?" and row.error_type == "x" * 20  # cut to 40, then cleaned


def test_an_absurd_provider_cost_is_ignored_for_the_price_table(sync, make_tenant):
    tenant = make_tenant()
    usage.track(**track_args(tenant.pk, provider_cost=Decimal("1e30")))
    [row] = rows_of(tenant.pk)
    assert row.cost_source == CostSource.PRICE_TABLE and row.cost_usd > 0


def test_a_starting_writer_replays_the_spill_file_of_a_dead_process(
    transactional_db, tmp_path, make_tenant, catalogue_prices
):
    import subprocess

    tenant = make_tenant()
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = tmp_path / f"usage-{spill.HOST}-{dead.pid}-1.jsonl"
    orphan.write_text(
        "".join(to_json(normalise(raw_call(tenant.pk, i))) + "\n" for i in range(20))
    )
    tracker = Tracker(spill_dir=tmp_path, interval=0.01)
    tracker.track(raw_call(tenant.pk, 20))  # starts the writer
    assert tracker.flush(timeout=30)
    tracker.stop(timeout=5)
    assert ModelUsageStat.objects.filter(tenant_id=tenant.pk).count() == 21
    assert tracker.stats()["replayed"] == 20 and not orphan.exists()


def test_records_tracked_from_many_threads_are_each_written_once(
    transactional_db, tmp_path, make_tenant, catalogue_prices
):
    import threading

    tenant = make_tenant()
    tracker = Tracker(spill_dir=tmp_path, batch_size=200, interval=0.01)

    def worker(offset):
        for i in range(offset, offset + 500):
            tracker.track(raw_call(tenant.pk, i))

    threads = [threading.Thread(target=worker, args=(n * 500,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tracker.flush(timeout=60)
    tracker.stop(timeout=5)
    ids = ModelUsageStat.objects.filter(tenant_id=tenant.pk).values_list("request_id", flat=True)
    assert sorted(ids) == sorted(track_args(tenant.pk, i)["request_id"] for i in range(4000))


def test_under_steady_traffic_the_writer_writes_once_per_interval(
    transactional_db, tmp_path, make_tenant, catalogue_prices
):
    # One record every 2 ms for about a second, with a 0.25 s interval: the writer should
    # take what arrived once per interval, not chase the buffer a few rows at a time.
    tenant = make_tenant()
    tracker = Tracker(spill_dir=tmp_path, batch_size=2000, interval=0.25)
    started = time.monotonic()
    for i in range(400):
        tracker.track(raw_call(tenant.pk, i))
        time.sleep(0.002)
    elapsed = time.monotonic() - started
    assert tracker.flush(timeout=30)
    stats = tracker.stats()
    assert stats["written"] == 400
    # One write per interval that passed, one for the flush, and one of slack.
    assert stats["batches"] <= elapsed / 0.25 + 2, stats
    tracker.stop(timeout=5)


def test_the_replay_command_sets_aside_a_record_the_database_refuses(
    transactional_db, tmp_path, make_tenant, catalogue_prices, settings
):
    """``manage.py replay_usage_spill`` on a dead process's file with one record the
    database refuses: the others are written, that one is set aside, nothing stops."""
    import io
    import subprocess

    from django.core.management import call_command

    if connection.vendor != "postgresql":
        pytest.skip("SQLite stores any text; PostgreSQL refuses a NUL character in a string")
    settings.USAGE_SPILL_DIR = str(tmp_path)
    tenant = make_tenant()
    dead = subprocess.Popen(["true"])
    dead.wait()
    poison = normalise(raw_call(tenant.pk, 0))._replace(error_type="nul\x00byte")
    good = [normalise(raw_call(tenant.pk, i)) for i in range(1, 6)]
    orphan = tmp_path / f"usage-{spill.HOST}-{dead.pid}-1.jsonl"
    orphan.write_text("".join(to_json(r) + "\n" for r in [good[0], poison, *good[1:]]))
    out = io.StringIO()
    call_command("replay_usage_spill", stdout=out)
    assert "6 records, 5 new" in out.getvalue() and "1 refused" in out.getvalue()
    assert ModelUsageStat.objects.filter(tenant_id=tenant.pk).count() == 5
    assert not orphan.exists()
    [refused] = tmp_path.glob("refused-*.jsonl")
    assert str(poison.id) in refused.read_text()
