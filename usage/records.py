"""The usage record: its one definition, and what a tracker call becomes.

``Record`` is the single definition of a usage record's fields. Everything else derives
from it: the tuple ``usage.track()`` packs (``RAW_FIELDS``: every field but the id, in
order; ``track``'s keyword arguments must be exactly these, checked at import), the
writer's COPY columns and temporary table (usage/writer.py), and the spill line
(``to_json``/``from_json``: a JSON array in field order). A new field is a line here, a
keyword of ``track()``, a model column of the same name and its migration.

``track()`` only packs its arguments into a tuple (it must cost microseconds); the writer
thread turns each tuple into a ``Record`` here. A record gets its id before its first write
attempt and keeps it in every retry and spill, which is what makes replays write it once.
"""

from __future__ import annotations

import inspect
import json
import time
import types
import typing
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

from usage.ids import record_id
from usage.statuses import CODES, Status

MAX_INT4 = 2**31 - 1


class Record(NamedTuple):
    """One attempt at one provider, checked and ready to store. Fields with a default were
    added later: a spill line written before them lacks them and reads as the default."""

    id: uuid.UUID
    created_at: datetime
    tenant_id: uuid.UUID
    request_id: uuid.UUID
    provider: str
    model: str
    status: int  # usage.statuses.Status
    attempt: int
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    error_type: str
    provider_cost: str | None  # the provider's own USD figure, as text (exact)
    ttft_ms: int | None = None  # streams: time to the first content
    tokens_estimated: bool = False  # no figures from the provider: the counts are estimates
    # Of prompt_tokens, read from the provider's prompt cache; of completion_tokens, spent on
    # reasoning. None: none reported (a 0 is stored as None too: a null costs a row no bytes).
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None


RAW_FIELDS = Record._fields[1:]
"""The layout of the tuple ``track()`` hands its tracker: every field but the id (the
writer gives it). ``created_at`` is a datetime or a ``time.time()`` float."""

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


def _optional_count(value) -> int | None:
    """A count that may be unknown (None): garbage reads as unknown, not as 0."""
    if value is None or type(value) is int and 0 <= value <= MAX_INT4:
        return value
    try:
        return min(max(int(value), 0), MAX_INT4)
    except (ValueError, TypeError, OverflowError):
        return None


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
    """A tracked call's arguments (a RAW_FIELDS tuple) as a Record; BadRecord when it
    cannot be stored at all.

    Runs in the writer thread for every record, hence the plain positional code.
    """
    (created_at, tenant_id, request_id, provider, model, status, attempt, prompt_tokens,
     completion_tokens, latency_ms, error_type, provider_cost, ttft_ms, tokens_estimated,
     cached_tokens, reasoning_tokens) = raw
    created_at, ms = _when(created_at)
    error_type = _text(error_type, 40)
    code = CODES.get(status)
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
        _optional_count(ttft_ms),
        bool(tokens_estimated),
        _optional_count(cached_tokens) or None,
        _optional_count(reasoning_tokens) or None,
    ))


def pack(**fields) -> tuple:
    """The tuple ``usage.track(**fields)`` would hand its tracker (tests, benchmarks,
    anything that feeds a tracker or ``normalise`` directly). Defaults as ``track()``'s."""
    unknown = fields.keys() - set(RAW_FIELDS)
    if unknown:
        raise TypeError(f"not a usage record field: {', '.join(sorted(unknown))}")
    values = {**TRACK_DEFAULTS, **fields}
    if values["created_at"] is None:
        values["created_at"] = time.time()
    return tuple(values[name] for name in RAW_FIELDS)


def build(**fields) -> Record:
    """A Record from ``track()``'s keywords, checked as a tracked call is (tests, benchmarks,
    anything that writes records itself); BadRecord as ``normalise``."""
    return normalise(pack(**fields))


# --- spill lines: a JSON array in field order ----------------------------------------------


def _codec(hint) -> tuple:
    """(to JSON, from JSON) for a field's type; optional types pass None through."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) and type(None) in args:
        dump, load = _codec(next(a for a in args if a is not type(None)))
        return (lambda v: None if v is None else dump(v)), (
            lambda v: None if v is None else load(v)
        )
    if hint is uuid.UUID:
        return str, uuid.UUID
    if hint is datetime:
        return datetime.isoformat, datetime.fromisoformat
    if hint is bool:
        return bool, _strict_bool
    if hint in (int, str):
        return hint, hint
    raise TypeError(f"usage.records: no spill codec for {hint!r}")


def _strict_bool(value) -> bool:
    if not isinstance(value, bool):
        raise ValueError("not a boolean")
    return value


_CODECS = tuple(_codec(h) for h in typing.get_type_hints(Record).values())
_DUMPERS = tuple(dump for dump, _ in _CODECS)
_LOADERS = tuple(load for _, load in _CODECS)
_REQUIRED = len(Record._fields) - len(Record._field_defaults)
"""A spill line has at least the fields without a default (the 13 of the first format);
later formats added ``ttft_ms`` and ``tokens_estimated`` (15), then the token classes (17)."""


def to_json(record: Record) -> str:
    return json.dumps(
        [dump(value) for dump, value in zip(_DUMPERS, record, strict=True)],
        separators=(",", ":"),
    )


def from_json(line: str) -> Record:
    """A spill line as a Record; a line of an earlier format (fewer fields, the later ones
    having defaults) reads with those defaults. ValueError when it is not a record."""
    fields = json.loads(line)
    if not isinstance(fields, list) or not _REQUIRED <= len(fields) <= len(Record._fields):
        raise ValueError("not a spilled usage record")
    values = [load(value) for load, value in zip(_LOADERS, fields, strict=False)]
    return Record(*values)


def _track_defaults() -> dict:
    """``usage.track``'s keyword defaults, after checking its keywords are RAW_FIELDS."""
    from usage import track

    parameters = inspect.signature(track).parameters
    if set(parameters) != set(RAW_FIELDS):
        raise ImportError(
            "usage.track()'s keyword arguments must be the Record's fields but the id: "
            f"{sorted(set(parameters) ^ set(RAW_FIELDS))} differ"
        )
    empty = inspect.Parameter.empty
    return {name: p.default for name, p in parameters.items() if p.default is not empty}


TRACK_DEFAULTS = _track_defaults()
