"""Per-database pieces Django's schema editor cannot express in one portable form.

- ``seq``: the insertion sequence the summary refresh follows. PostgreSQL: a sequence as
  the column default. SQLite: an AFTER INSERT trigger numbering rows from a one-row
  counter (SQLite writers are serialised, so numbers follow commit order).
- Range indexes on ``seq`` and ``created_at``: BRIN on PostgreSQL (a few kilobytes for
  millions of rows, since both columns grow with the physical order), B-tree on SQLite.
"""

from django.db import migrations

PG_FORWARD = [
    "CREATE SEQUENCE model_usage_stats_seq_seq OWNED BY model_usage_stats.seq",
    "ALTER TABLE model_usage_stats ALTER COLUMN seq SET DEFAULT nextval('model_usage_stats_seq_seq')",
    "ALTER TABLE model_usage_stats ALTER COLUMN seq SET NOT NULL",
    "CREATE INDEX model_usage_stats_seq_brin ON model_usage_stats USING brin (seq)"
    " WITH (pages_per_range = 16)",
    "CREATE INDEX model_usage_stats_created_brin ON model_usage_stats USING brin (created_at)"
    " WITH (pages_per_range = 16)",
]
PG_BACKWARD = [
    "DROP INDEX model_usage_stats_created_brin",
    "DROP INDEX model_usage_stats_seq_brin",
    "ALTER TABLE model_usage_stats ALTER COLUMN seq DROP NOT NULL",
    "ALTER TABLE model_usage_stats ALTER COLUMN seq DROP DEFAULT",
    "DROP SEQUENCE model_usage_stats_seq_seq",
]
SQLITE_FORWARD = [
    "CREATE TABLE usage_seq_counter (id integer PRIMARY KEY, value integer NOT NULL)",
    "INSERT INTO usage_seq_counter (id, value) VALUES (1, 0)",
    """CREATE TRIGGER model_usage_stats_number AFTER INSERT ON model_usage_stats
       WHEN NEW.seq IS NULL
       BEGIN
         UPDATE usage_seq_counter SET value = value + 1 WHERE id = 1;
         UPDATE model_usage_stats SET seq = (SELECT value FROM usage_seq_counter WHERE id = 1)
         WHERE rowid = NEW.rowid;
       END""",
    "CREATE INDEX model_usage_stats_seq_idx ON model_usage_stats (seq)",
    "CREATE INDEX model_usage_stats_created_idx ON model_usage_stats (created_at)",
]
SQLITE_BACKWARD = [
    "DROP INDEX model_usage_stats_created_idx",
    "DROP INDEX model_usage_stats_seq_idx",
    "DROP TRIGGER model_usage_stats_number",
    "DROP TABLE usage_seq_counter",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, ()):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("usage", "0001_ledger")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        )
    ]
