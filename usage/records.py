"""The record a tracker call becomes: validated, given its id, and (de)serialised for spill files.

``track()`` only packs its arguments into a tuple (it must cost microseconds); the writer
thread turns each tuple into a ``Record`` here. A record gets its id before its first write
attempt and keeps it in every retry and spill, which is what makes replays write it once.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

from usage.ids import record_id
from usage.models import STATUS_CODES, Status

MAX_INT4 = 2**31 - 1


class Record(NamedTuple):
    id: uuid.UUID
    created_at: datetime
    tenant_id: uuid.UUID
    request_id: uuid.UUID
    provider: str
    model: str
    status: int
    attempt: int
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    error_type: str
    provider_cost: str | None


_new_record = tuple.__new__  # Record(...) without the Python-level __new__ frame


class BadRecord(ValueError):
    """A tracked call whose arguments cannot become a row (say, a tenant id that is no UUID)."""


def _as_uuid(value, name: str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise BadRecord(f"{name} is not a UUID") from None


def _count(value) -> int:
    if type(value) is int and 0 <= value <= MAX_INT4:
        return value
    try:
        number = int(value or 0)
    except (ValueError, TypeError):
        return 0
    return min(max(number, 0), MAX_INT4)


def _text(value, limit: int, default: str = "") -> str:
    """A string the database will take: cut to size, no NUL, no lone surrogates."""
    if type(value) is not str:
        value = str(value) if value else default
    value = value[:limit]
    if not value.isascii():
        value = value.encode("utf-8", "replace").decode("utf-8")
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value or default


def _when(created_at) -> tuple[datetime, int]:
    """(aware UTC datetime, epoch milliseconds) of a created_at or a time.time() float."""
    if type(created_at) is float:
        return datetime.fromtimestamp(created_at, UTC), int(created_at * 1000)
    if not isinstance(created_at, datetime):
        raise BadRecord("created_at is not a datetime")
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    else:
        created_at = created_at.astimezone(UTC)
    return created_at, int(created_at.timestamp() * 1000)


def normalise(raw: tuple) -> Record:
    """A tracked call's arguments as a Record; BadRecord when it cannot be stored at all.

    Runs in the writer thread for every record, hence the plain positional code.
    """
    (tenant_id, provider, model, status, request_id, attempt, prompt_tokens,
     completion_tokens, latency_ms, error_type, provider_cost, created_at) = raw
    created_at, ms = _when(created_at)
    error_type = _text(error_type, 40)
    code = STATUS_CODES.get(status)
    if code is None:
        # An unknown status is still an attempt that happened: keep it as an error and say so.
        code, error_type = int(Status.ERROR), "bad_status:" + _text(status, 29)
    cost = None
    if provider_cost is not None and not isinstance(provider_cost, bool):
        if isinstance(provider_cost, Decimal | int | float | str):
            cost = str(provider_cost)
    if type(attempt) is not int or not 1 <= attempt <= 32767:
        attempt = min(max(_count(attempt), 1), 32767)
    return _new_record(Record, (
        record_id(ms),
        created_at,
        tenant_id if type(tenant_id) is uuid.UUID else _as_uuid(tenant_id, "tenant_id"),
        request_id if type(request_id) is uuid.UUID else _as_uuid(request_id, "request_id"),
        _text(provider, 32, "unknown"),
        _text(model, 200, "unknown"),
        code,
        attempt,
        _count(prompt_tokens),
        _count(completion_tokens),
        _count(latency_ms),
        error_type,
        cost,
    ))


def to_json(record: Record) -> str:
    return json.dumps(
        [
            str(record.id), record.created_at.isoformat(), str(record.tenant_id),
            str(record.request_id), record.provider, record.model, record.status,
            record.attempt, record.prompt_tokens, record.completion_tokens, record.latency_ms,
            record.error_type, record.provider_cost,
        ],
        separators=(",", ":"),
    )


def from_json(line: str) -> Record:
    fields = json.loads(line)
    if not isinstance(fields, list) or len(fields) != len(Record._fields):
        raise ValueError("not a spilled usage record")
    return Record(
        uuid.UUID(fields[0]), datetime.fromisoformat(fields[1]), uuid.UUID(fields[2]),
        uuid.UUID(fields[3]), str(fields[4]), str(fields[5]), int(fields[6]), int(fields[7]),
        int(fields[8]), int(fields[9]), int(fields[10]), str(fields[11]),
        None if fields[12] is None else str(fields[12]),
    )
