"""How many bytes the ledger and its summaries take on disk, table and indexes apart.

Read by the /metrics scrape (config/metrics.py) and by each operations snapshot
(usage/operations.py). PostgreSQL: ``pg_table_size`` (heap and TOAST) and
``pg_indexes_size``. SQLite: the ``dbstat`` virtual table when the build has it (pages of
each table's and index's b-tree); without it only the whole file is known
(``page_count * page_size``), reported as one entry named ``database`` with method
``estimate`` so a reader never takes it for one table's size.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DatabaseError, connections

TABLES = ("model_usage_stats", "model_usage_summary", "model_usage_day_summary")
"""The raw ledger, the hourly summary and the daily summary (their db_table names)."""

WHOLE_FILE = "database"


@dataclass(frozen=True)
class TableSize:
    table: str
    table_bytes: int
    index_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.table_bytes + self.index_bytes


@dataclass(frozen=True)
class Sizes:
    method: str  # "postgresql" | "dbstat" | "estimate"
    tables: list[TableSize]


def table_sizes(using: str = "default") -> Sizes:
    """The sizes of ``TABLES`` on the database behind ``using`` (tables that do not exist
    are left out)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            return Sizes("postgresql", _postgresql(cursor))
        try:
            return Sizes("dbstat", _dbstat(cursor))
        except DatabaseError:  # a SQLite built without SQLITE_ENABLE_DBSTAT_VTAB
            return Sizes("estimate", [_whole_file(cursor)])


def _postgresql(cursor) -> list[TableSize]:
    cursor.execute(
        "SELECT t.name, pg_table_size(to_regclass(t.name)), pg_indexes_size(to_regclass(t.name)) "
        "FROM unnest(%(tables)s::text[]) WITH ORDINALITY AS t(name, n) "
        "WHERE to_regclass(t.name) IS NOT NULL ORDER BY t.n",
        {"tables": list(TABLES)},
    )
    return [TableSize(name, int(table), int(index)) for name, table, index in cursor.fetchall()]


def _dbstat(cursor) -> list[TableSize]:
    placeholders = ", ".join(["%s"] * len(TABLES))
    # Every b-tree of a table: the table itself and its indexes (automatic ones included).
    cursor.execute(
        f"SELECT name, tbl_name, type FROM sqlite_master WHERE tbl_name IN ({placeholders}) "
        "AND type IN ('table', 'index')",
        list(TABLES),
    )
    owners = {name: (table, kind) for name, table, kind in cursor.fetchall()}
    if not owners:
        return []
    names = list(owners)
    cursor.execute(
        "SELECT name, sum(pgsize) FROM dbstat WHERE name IN "
        f"({', '.join(['%s'] * len(names))}) GROUP BY name",
        names,
    )
    table_bytes: dict[str, int] = {}
    index_bytes: dict[str, int] = {}
    for name, size in cursor.fetchall():
        table, kind = owners[name]
        bucket = table_bytes if kind == "table" else index_bytes
        bucket[table] = bucket.get(table, 0) + int(size or 0)
    present = {table for table, kind in owners.values() if kind == "table"}
    return [
        TableSize(t, table_bytes.get(t, 0), index_bytes.get(t, 0)) for t in TABLES if t in present
    ]


def _whole_file(cursor) -> TableSize:
    cursor.execute("PRAGMA page_count")
    pages = cursor.fetchone()[0]
    cursor.execute("PRAGMA page_size")
    return TableSize(WHOLE_FILE, int(pages) * int(cursor.fetchone()[0]), 0)
