"""Token classes in the ledger (issue 12): each row's cached-input and reasoning tokens,
and their sums in both summaries.

As in 0007, the columns are added with plain ``ALTER TABLE ... ADD COLUMN`` (SQLite would
otherwise rebuild ``model_usage_stats`` and lose migration 0002's trigger and indexes;
PostgreSQL makes each addition a catalogue change, no rewrite). The row columns are
nullable without a default: existing rows read as "none reported", which is what they
were, and a null costs no bytes in a row that already has a null bitmap. The summary
columns start at 0, the sum of nothing.
"""

from django.db import migrations, models

ROW_FIELDS = (
    ("cached_tokens", models.IntegerField(null=True, blank=True)),
    ("reasoning_tokens", models.IntegerField(null=True, blank=True)),
)
SUMMARY_FIELDS = (
    ("cached_tokens", models.BigIntegerField(default=0)),
    ("reasoning_tokens", models.BigIntegerField(default=0)),
)
SUMMARY_TABLES = {
    "modelusagesummary": "model_usage_summary",
    "modelusagedaysummary": "model_usage_day_summary",
}


def _statements(connection) -> list[str]:
    """ADD COLUMN statements; SQLite takes one column per statement."""
    columns = {
        "model_usage_stats": [
            f"{name} {field.db_type(connection)} NULL" for name, field in ROW_FIELDS
        ],
        **{
            table: [f"{name} {field.db_type(connection)} DEFAULT 0 NOT NULL"
                    for name, field in SUMMARY_FIELDS]
            for table in SUMMARY_TABLES.values()
        },
    }
    statements = []
    for table, definitions in columns.items():
        if connection.vendor == "postgresql":
            statements.append(
                f"ALTER TABLE {table} " + ", ".join(f"ADD COLUMN {d}" for d in definitions)
            )
            if table in SUMMARY_TABLES.values():
                # Django's own schema: the application supplies every value, no DB default.
                statements.append(
                    f"ALTER TABLE {table} "
                    + ", ".join(f"ALTER COLUMN {name} DROP DEFAULT" for name, _ in SUMMARY_FIELDS)
                )
        else:
            statements += [f"ALTER TABLE {table} ADD COLUMN {d}" for d in definitions]
    return statements


def add_columns(apps, schema_editor):
    for sql in _statements(schema_editor.connection):
        schema_editor.execute(sql)


def drop_columns(apps, schema_editor):
    tables = {"model_usage_stats": [name for name, _ in ROW_FIELDS]}
    tables.update({t: [name for name, _ in SUMMARY_FIELDS] for t in SUMMARY_TABLES.values()})
    for table, names in tables.items():
        for name in names:
            schema_editor.execute(f"ALTER TABLE {table} DROP COLUMN {name}")


class Migration(migrations.Migration):
    dependencies = [("usage", "0009_ops_snapshot")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(add_columns, drop_columns)],
            state_operations=[
                *(
                    migrations.AddField(model_name="modelusagestat", name=name, field=field)
                    for name, field in ROW_FIELDS
                ),
                *(
                    migrations.AddField(model_name=model, name=name, field=field.clone())
                    for model in SUMMARY_TABLES
                    for name, field in SUMMARY_FIELDS
                ),
            ],
        ),
    ]
