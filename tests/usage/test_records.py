"""The usage record's one definition: every field reaches its column by every path (inline,
the writer thread's COPY, a spill file and its replay), and spill lines of the previous
format still replay."""

import subprocess
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

import usage
from tests.usage.conftest import raw_call, rows_of
from usage import spill, writer
from usage.models import ModelUsageStat
from usage.records import RAW_FIELDS, Record, build, from_json, normalise, to_json
from usage.statuses import Status
from usage.tracker import Tracker

AT = datetime(2025, 6, 1, 10, 30, tzinfo=UTC)


def _every_field(tenant_id) -> dict:
    """A value for every keyword of track(), each one different, so a swap shows."""
    return {
        "tenant_id": tenant_id,
        "provider": "openrouter",
        "model": "deepseek/deepseek-r1",
        "status": "cancelled",
        "request_id": uuid.uuid4(),
        "attempt": 2,
        "prompt_tokens": 11,
        "completion_tokens": 22,
        "latency_ms": 333,
        "error_type": "stream_cancelled",
        "provider_cost": Decimal("0.000044"),
        "created_at": AT,
        "ttft_ms": 55,
        "tokens_estimated": True,
        "cached_tokens": 4,
        "reasoning_tokens": 9,
    }


def _assert_row_has(row: ModelUsageStat, fields: dict) -> None:
    assert (row.model.provider, row.model.name) == (fields["provider"], fields["model"])
    assert row.tenant_id == fields["tenant_id"] and row.request_id == fields["request_id"]
    assert row.get_status_display() == fields["status"]
    assert (row.attempt, row.prompt_tokens, row.completion_tokens, row.latency_ms) == (
        fields["attempt"], fields["prompt_tokens"], fields["completion_tokens"],
        fields["latency_ms"])
    assert row.error_type == fields["error_type"] and row.created_at == fields["created_at"]
    assert row.cost_usd == fields["provider_cost"]
    assert (row.ttft_ms, row.tokens_estimated) == (fields["ttft_ms"], fields["tokens_estimated"])
    assert (row.cached_tokens, row.reasoning_tokens) == (
        fields.get("cached_tokens"), fields.get("reasoning_tokens"))


def test_track_takes_exactly_the_records_fields_but_its_id():
    assert set(RAW_FIELDS) == set(Record._fields) - {"id"}
    assert RAW_FIELDS[-4:] == ("ttft_ms", "tokens_estimated", "cached_tokens", "reasoning_tokens")


def test_the_writers_columns_are_the_ledger_tables_columns():
    table = {f.column for f in ModelUsageStat._meta.concrete_fields} - {"seq"}
    assert set(writer.COLUMNS) == table and len(writer.COLUMNS) == len(table)


def test_every_field_given_to_track_reaches_its_column(settings, make_tenant):
    settings.USAGE_TRACKER_SYNC = True  # PostgreSQL: COPY on Django's connection
    tenant = make_tenant()
    fields = _every_field(tenant.pk)
    usage.track(**fields)
    [row] = rows_of(tenant.pk)
    _assert_row_has(row, fields)
    assert row.status == Status.CANCELLED


def test_an_attempt_that_did_not_stream_has_no_time_to_first_token(settings, make_tenant):
    settings.USAGE_TRACKER_SYNC = True
    tenant = make_tenant()
    usage.track(tenant_id=tenant.pk, provider="groq", model="m", status="success",
                request_id=uuid.uuid4(), attempt=1, prompt_tokens=5, completion_tokens=6)
    [row] = rows_of(tenant.pk)
    assert row.ttft_ms is None and row.tokens_estimated is False


def test_the_writer_thread_stores_every_field_of_raw_tracked_calls(
    transactional_db, tmp_path, make_tenant, catalogue_prices
):
    # PostgreSQL: the tracker's own connection, raw tuples checked while COPY streams.
    tenant = make_tenant()
    fields = _every_field(tenant.pk)
    tracker = Tracker(spill_dir=tmp_path, batch_size=50, interval=0.01)
    tracker.track(usage.records.pack(**fields))
    for i in range(1, 20):
        tracker.track(raw_call(tenant.pk, i))
    assert tracker.flush(timeout=30)
    tracker.stop(timeout=5)
    [row] = ModelUsageStat.objects.filter(request_id=fields["request_id"]).select_related("model")
    _assert_row_has(row, fields)
    others = ModelUsageStat.objects.filter(tenant_id=tenant.pk).exclude(pk=row.pk)
    assert others.count() == 19
    assert not others.filter(ttft_ms__isnull=False).exists()
    assert not others.filter(tokens_estimated=True).exists()


def test_a_batch_partly_stored_already_keeps_every_field_of_the_new_records(make_tenant):
    # PostgreSQL: the second write meets a stored id and goes through the temporary table.
    tenant = make_tenant()
    first = build(**_every_field(tenant.pk))
    second_fields = {**_every_field(tenant.pk), "ttft_ms": 7, "tokens_estimated": False}
    second = build(**second_fields)
    assert writer.write_records([first]) == 1
    assert writer.write_records([first, second]) == 1
    row = ModelUsageStat.objects.select_related("model").get(pk=second.id)
    _assert_row_has(row, second_fields)


def test_a_spilled_record_replays_with_every_field(tmp_path, make_tenant):
    tenant = make_tenant()
    fields = _every_field(tenant.pk)
    record = build(**fields)
    assert from_json(to_json(record)) == record
    spilled = spill.SpillFile(tmp_path)
    spilled.append([record])
    assert spill.replay_file(spilled.hand_over(), writer.write_records) == (1, 1)
    _assert_row_has(rows_of(tenant.pk)[0], fields)


def test_a_spill_line_of_the_previous_format_still_replays(tmp_path, make_tenant):
    # As written before streams: 13 fields, no time to first token, no estimate flag.
    tenant = make_tenant()
    record_id, request_id = uuid.uuid4(), uuid.uuid4()
    line = (
        f'["{record_id}","2025-06-01T10:30:00+00:00","{tenant.pk}","{request_id}","groq",'
        '"llama-3.3-70b-versatile",3,1,120,0,30000,"read_timeout","0.001"]\n'
    )
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / f"usage-{spill.HOST}-{dead.pid}-1.jsonl").write_text(line)
    assert spill.replay_orphans(tmp_path, writer.write_records) == (1, 1, 1)
    [row] = rows_of(tenant.pk)
    assert (row.id, row.request_id, row.status, row.error_type) == (
        record_id, request_id, Status.TIMEOUT, "read_timeout")
    assert (row.prompt_tokens, row.completion_tokens, row.latency_ms) == (120, 0, 30000)
    assert row.cost_usd == Decimal("0.001") and row.created_at == AT
    assert row.ttft_ms is None and row.tokens_estimated is False
    assert row.cached_tokens is None and row.reasoning_tokens is None


def test_a_spill_line_written_before_the_token_classes_still_replays(tmp_path, make_tenant):
    # As written by streams' format: 15 fields, no cached or reasoning tokens.
    tenant = make_tenant()
    record_id, request_id = uuid.uuid4(), uuid.uuid4()
    line = (
        f'["{record_id}","2025-06-01T10:30:00+00:00","{tenant.pk}","{request_id}","groq",'
        '"llama-3.3-70b-versatile",1,1,120,40,300,"","0.002",90,false]\n'
    )
    record = from_json(line)
    assert (record.ttft_ms, record.cached_tokens, record.reasoning_tokens) == (90, None, None)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / f"usage-{spill.HOST}-{dead.pid}-1.jsonl").write_text(line)
    assert spill.replay_orphans(tmp_path, writer.write_records) == (1, 1, 1)
    [row] = rows_of(tenant.pk)
    assert (row.id, row.prompt_tokens, row.completion_tokens, row.ttft_ms) == (
        record_id, 120, 40, 90)
    assert row.cached_tokens is None and row.reasoning_tokens is None


@pytest.mark.parametrize("cached, reasoning, stored", [
    (0, 0, (None, None)),
    (7, "12", (7, 12)),
    (-5, "lots", (None, None)),
    ({"nested": [1]}, [3], (None, None)),
    (10**30, 2**40, (2**31 - 1, 2**31 - 1)),
])
def test_token_classes_that_make_no_sense_read_as_none(make_tenant, cached, reasoning, stored):
    tenant = make_tenant()
    record = normalise(raw_call(tenant.pk, cached_tokens=cached, reasoning_tokens=reasoning))
    assert (record.cached_tokens, record.reasoning_tokens) == stored
    assert from_json(to_json(record)) == record


@pytest.mark.parametrize("line", [
    "[]",
    '{"id": 1}',
    '["not enough", 1, 2]',
    # the new fields of the wrong type
    '["00000000-0000-0000-0000-000000000001","2025-06-01T10:30:00+00:00",'
    '"00000000-0000-0000-0000-000000000002","00000000-0000-0000-0000-000000000003",'
    '"groq","m",1,1,1,1,1,"",null,5,"yes"]',
])
def test_a_line_that_is_no_record_is_refused(line):
    with pytest.raises((ValueError, TypeError)):
        from_json(line)


def test_a_time_to_first_token_that_is_no_number_is_unknown_not_zero(make_tenant):
    tenant = make_tenant()
    record = normalise(raw_call(tenant.pk, ttft_ms="soon"))
    assert record.ttft_ms is None
    assert normalise(raw_call(tenant.pk, ttft_ms=-3)).ttft_ms == 0
