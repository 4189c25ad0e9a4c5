"""Writing a batch of usage records, exactly once per record id.

PostgreSQL: COPY straight into ``model_usage_stats`` (the fast path); if any id is
already there (a retry after an ambiguous failure, a spill replay), the batch goes again
through a temporary table and ``INSERT ... ON CONFLICT (id) DO NOTHING``. SQLite: a
multi-row ``INSERT ... ON CONFLICT (id) DO NOTHING``.

Every PostgreSQL write holds a shared advisory lock for its transaction; the summary
refresh takes the same lock exclusively for an instant to read a ``seq`` horizon below
which every row is committed (see usage/summary.py).
"""

from __future__ import annotations

import operator
import threading
import time
from collections.abc import Callable

import psycopg
from django.db import DataError as DjangoDataError
from django.db import connections, transaction

from usage import pricing
from usage.models import CostSource, ModelUsageStat, ProviderModel
from usage.records import BadRecord, Record, normalise

# Errors about the data rather than the connection: retrying the same batch cannot help.
POISON = (psycopg.DataError, DjangoDataError, ValueError, UnicodeError, OverflowError)


def write_or_set_aside(
    records: list[Record],
    write: Callable[[list[Record]], int],
    set_aside: Callable[[Record, Exception], None],
    after_refusal: Callable[[], None] = lambda: None,
) -> int:
    """``write(records)``; if the database refuses the batch for its data, each record on
    its own, and ``set_aside(record, error)`` for each one it refuses alone
    (``after_refusal`` runs after every refusal: the tracker drops its connections). An
    outage still raises, leaving the records to the caller. Returns the records written."""
    try:
        return write(records)
    except POISON:
        after_refusal()
    written = 0
    for record in records:
        try:
            written += write([record])
        except POISON as exc:
            after_refusal()
            set_aside(record, exc)
    return written

WRITE_LOCK_KEY = 0x75736167  # "usag": shared by writers, exclusive for the refresh horizon

RESOLVED = ("provider", "model", "provider_cost")
"""Record fields the writer turns into other columns: (provider, model) into ``model_id``;
the provider's cost or the price table into ``cost_pusd`` and ``cost_source``."""
STORED = tuple(name for name in Record._fields if name not in RESOLVED)
"""Record fields stored as they are, in columns of the same name."""
COLUMNS = (*STORED, "model_id", "cost_pusd", "cost_source")
"""The columns of a row as ``_row`` builds it (COPY and INSERT take this order)."""
_COLUMN_LIST = ", ".join(COLUMNS)
_stored = operator.itemgetter(*(Record._fields.index(name) for name in STORED))
# Rows that may already be stored go through this table (see _pg_write): COLUMNS with the
# ledger's own column types, read from the table itself.
_TEMP_TABLE_SQL = (
    f"CREATE TEMP TABLE IF NOT EXISTS usage_incoming AS SELECT {_COLUMN_LIST} "
    "FROM model_usage_stats WITH NO DATA"
)
# SQLite caps the variables of one statement at 999 (older builds).
_SQLITE_ROWS_PER_INSERT = 999 // len(COLUMNS)

_model_ids: dict[tuple[str, str], int] = {}
_model_ids_lock = threading.Lock()


def model_ids(pairs: set[tuple[str, str]], using: str) -> dict[tuple[str, str], int]:
    """Ids of (provider, model) pairs, created on first sight; cached per process.

    Ids read inside a transaction are not cached: that transaction may roll back (a test's,
    a failed request's) and take a new pair with it.
    """
    missing = pairs - _model_ids.keys()
    if not missing:
        return _model_ids
    with _model_ids_lock:
        manager = ProviderModel.objects.using(using)
        manager.bulk_create(
            [ProviderModel(provider=p, name=m) for p, m in sorted(missing)],
            ignore_conflicts=True,
        )
        providers = {p for p, _ in missing}
        found = {
            (provider, name): pk
            for provider, name, pk in manager.filter(provider__in=providers).values_list(
                "provider", "name", "id"
            )
        }
        if not connections[using].in_atomic_block:
            _model_ids.update(found)
    return {**_model_ids, **found}


def forget_model_ids() -> None:
    """For tests that reset the database under a running process."""
    _model_ids.clear()


def _row(r: Record, ids: dict, prices: pricing.PriceTable) -> tuple:
    """One row in COLUMNS order. The common case (no provider cost, reported token counts,
    a list price, no cached or reasoning tokens) is inlined: this runs for every record."""
    key = (r.provider, r.model)
    if (
        r.provider_cost is None
        and not r.tokens_estimated
        and r.cached_tokens is None
        and r.reasoning_tokens is None
        and r.tenant_id not in prices.tenants
    ):
        price = pricing.price_at(prices, key, r.created_at)
        cost = price and r.prompt_tokens * price[0] + r.completion_tokens * price[1]
        if cost is None or cost > pricing.MAX_PICO:
            cost, source = None, CostSource.UNKNOWN
        else:
            source = CostSource.PRICE_TABLE
    else:
        cost, source = pricing.cost_pico(
            provider=r.provider,
            model=r.model,
            prompt_tokens=r.prompt_tokens,
            completion_tokens=r.completion_tokens,
            at=r.created_at,
            provider_cost=r.provider_cost,
            tokens_estimated=r.tokens_estimated,
            table=prices,
            tenant_id=r.tenant_id,
            cached_tokens=r.cached_tokens,
            reasoning_tokens=r.reasoning_tokens,
        )
    return _stored(r) + (ids[key], cost, int(source))


class _ModelIdMap(dict):
    """Model ids resolved on first sight: only where those lookups run on a connection other
    than the one COPY is streaming on (the tracker's own)."""

    def __init__(self, known: dict, using: str) -> None:
        super().__init__(known)
        self.using = using

    def __missing__(self, key):
        self[key] = model_ids({key}, self.using)[key]
        return self[key]


# Building COPY rows is pure Python that holds the GIL for the whole batch (a few ms for
# a few hundred records): a request thread whose I/O returns meanwhile waits for it, up to
# the interpreter's switch interval. A batch below PAUSE_BELOW records (the writer is not
# behind) therefore steps aside for PAUSE_SECONDS every PAUSE_EVERY rows, long enough for
# a waiting thread to take the GIL (a zero sleep is usually won back by this thread).
# Backlogged batches (bulk ingest) run flat out.
PAUSE_BELOW = 1000
PAUSE_EVERY = 32
PAUSE_SECONDS = 0.00005


def _rows(items: list, ids: dict, prices: pricing.PriceTable, on_bad, on_start=None):
    """Rows for ``items``; raw tracker tuples become Records in place, so a record's id is
    fixed the first time it is sent and kept for every retry. Unstorable items become None
    (``on_bad`` is told) and are skipped. ``on_start()`` runs before the first item is read."""
    if on_start is not None:
        on_start()
    pause = len(items) < PAUSE_BELOW
    for i, item in enumerate(items):
        if pause and i % PAUSE_EVERY == PAUSE_EVERY - 1:
            time.sleep(PAUSE_SECONDS)
        if type(item) is not Record:
            if item is None:
                continue
            try:
                item = items[i] = normalise(item)
            except BadRecord as exc:
                items[i] = None
                on_bad(exc)
                continue
        yield _row(item, ids, prices)


def _lookups(records: list[Record], using: str) -> tuple[dict, pricing.PriceTable]:
    return model_ids({(r.provider, r.model) for r in records}, using), pricing.price_book.table(
        using
    )


def rows_for(records: list[Record], using: str) -> list[tuple]:
    """Rows in COLUMNS order, with model ids and costs resolved."""
    ids, prices = _lookups(records, using)
    return [_row(r, ids, prices) for r in records]


def _pg_copy(cursor, table: str, rows) -> int:
    count = 0
    with cursor.copy(f"COPY {table} ({_COLUMN_LIST}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _pg_write(
    cursor, items: list, using: str, savepoint, on_bad=None, lazy_ids=False, on_start=None
) -> int:
    ids, prices = _lookups([r for r in items if type(r) is Record], using)
    if lazy_ids:
        ids = _ModelIdMap(ids, using)
    cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", (WRITE_LOCK_KEY,))
    try:
        with savepoint():
            # Rows are built (and raw records checked) while COPY streams: the server inserts
            # the earlier rows meanwhile, so the two kinds of work overlap.
            return _pg_copy(
                cursor, "model_usage_stats", _rows(items, ids, prices, on_bad, on_start)
            )
    except psycopg.errors.UniqueViolation:
        pass
    cursor.execute(_TEMP_TABLE_SQL)
    cursor.execute("DELETE FROM usage_incoming")
    _pg_copy(cursor, "usage_incoming", _rows(items, ids, prices, on_bad))
    cursor.execute(
        f"INSERT INTO model_usage_stats ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} "
        "FROM usage_incoming ON CONFLICT (id) DO NOTHING"
    )
    written = cursor.rowcount
    cursor.execute("DELETE FROM usage_incoming")
    return written


def connect(using: str, overrides: dict) -> psycopg.Connection:
    """A connection of the tracker's own (autocommit) to the database behind ``using``.

    ``connect_timeout`` (5 s) and ``tcp_user_timeout`` (15 s without an ACK) make a dead
    network fail a write rather than hang the writer; ``overrides`` win over the settings.
    """
    s = connections[using].settings_dict
    params = {
        "dbname": s["NAME"], "user": s.get("USER"), "password": s.get("PASSWORD"),
        "host": s.get("HOST"), "port": s.get("PORT"),
    }
    django_only = {"isolation_level", "pool", "server_side_binding", "assume_role", "context"}
    params.update({k: v for k, v in (s.get("OPTIONS") or {}).items() if k not in django_only})
    params.update(overrides)
    params.setdefault("connect_timeout", 5)
    params.setdefault("tcp_user_timeout", 15000)
    params = {k: v for k, v in params.items() if v not in (None, "")}
    return psycopg.connect(autocommit=True, **params)


def write_pg_raw(
    conn: psycopg.Connection, items: list, using: str, on_bad, on_start=None
) -> int:
    """Write on a psycopg connection the tracker owns (autocommit, used by one thread).

    ``items``: Records or raw tracker tuples, normalised in place as they are sent;
    ``on_bad(exc)`` hears of each that cannot be stored; ``on_start()`` runs once the COPY
    is about to read ``items`` (until then another thread may check them in place).
    """
    with conn.transaction(), conn.cursor() as cursor:
        return _pg_write(
            cursor, items, using, conn.transaction, on_bad, lazy_ids=True, on_start=on_start
        )


def write_records(records: list[Record], *, using: str = "default") -> int:
    """Write records on Django's connection for this thread (synchronous mode, replays,
    commands, and the SQLite writer thread); returns how many were new."""
    if not records:
        return 0
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            return _pg_write(
                cursor.cursor, records, using, lambda: transaction.atomic(using=using)
            )
        rows = rows_for(records, using)
        fields = [ModelUsageStat._meta.get_field(column) for column in COLUMNS]
        prepared = [
            [f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True)]
            for row in rows
        ]
        placeholders = ", ".join(["%s"] * len(COLUMNS))
        written = 0
        for start in range(0, len(prepared), _SQLITE_ROWS_PER_INSERT):
            chunk = prepared[start : start + _SQLITE_ROWS_PER_INSERT]
            cursor.execute(
                f"INSERT INTO model_usage_stats ({_COLUMN_LIST}) VALUES "
                + ", ".join([f"({placeholders})"] * len(chunk))
                + " ON CONFLICT (id) DO NOTHING",
                [v for row in chunk for v in row],
            )
            written += cursor.rowcount
        return written
