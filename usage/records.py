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
    try:
        number = int(value or 0)
    except (ValueError, TypeError):
        return 0
    return min(max(number, 0), MAX_INT4)


def normalise(raw: tuple) -> Record:
    """A tracked call's arguments as a Record; BadRecord when it cannot be stored at all."""
    (tenant_id, provider, model, status, request_id, attempt, prompt_tokens,
     completion_tokens, latency_ms, error_type, provider_cost, created_at) = raw
    if isinstance(created_at, float):
        created_at = datetime.fromtimestamp(created_at, UTC)
    elif not isinstance(created_at, datetime):
        raise BadRecord("created_at is not a datetime")
    elif created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    else:
        created_at = created_at.astimezone(UTC)
    error_type = str(error_type or "")[:40]
    code = STATUS_CODES.get(status)
    if code is None:
        # An unknown status is still an attempt that happened: keep it as an error and say so.
        code, error_type = Status.ERROR, f"bad_status:{str(status)[:29]}"
    cost = None
    if isinstance(provider_cost, Decimal | int | float | str) and provider_cost is not True:
        cost = None if provider_cost is False else str(provider_cost)
    return Record(
        id=record_id(int(created_at.timestamp() * 1000)),
        created_at=created_at,
        tenant_id=_as_uuid(tenant_id, "tenant_id"),
        request_id=_as_uuid(request_id, "request_id"),
        provider=str(provider or "")[:32] or "unknown",
        model=str(model or "")[:200] or "unknown",
        status=code,
        attempt=min(max(_count(attempt), 1), 32767),
        prompt_tokens=_count(prompt_tokens),
        completion_tokens=_count(completion_tokens),
        latency_ms=_count(latency_ms),
        error_type=error_type,
        provider_cost=cost,
    )


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
