"""Streams in the ledger (issue 9): a row's time to first token and whether its token
counts are estimates, the status ``cancelled``, and what the summaries need for TTFT
percentiles (a count of streamed attempts, a TTFT sum and histogram, counts of cancelled
and estimated rows).

The columns are added with plain ``ALTER TABLE ... ADD COLUMN``: on SQLite Django would
rebuild each table once per NOT NULL column, and a rebuilt ``model_usage_stats`` would lose
the trigger and indexes of migration 0002. On PostgreSQL (11+) each addition is a catalogue
change, whatever the table's size: no rewrite. Existing rows read as not streamed
(``ttft_ms`` null), counts reported, and zero in the new summary figures, which is what
they were.
"""

from django.db import migrations, models

ROW_FIELDS = (
    ("ttft_ms", models.IntegerField(null=True, blank=True)),
    ("tokens_estimated", models.BooleanField(default=False, db_default=False)),
)
SUMMARY_FIELDS = (
    ("cancelled", models.IntegerField(default=0)),
    ("tokens_estimated", models.IntegerField(default=0)),
    ("streamed", models.IntegerField(default=0)),
    ("ttft_ms_sum", models.BigIntegerField(default=0)),
    *((f"ttft_b{i:02d}", models.IntegerField(default=0)) for i in range(16)),
)
SUMMARY_TABLES = {
    "modelusagesummary": "model_usage_summary",
    "modelusagedaysummary": "model_usage_day_summary",
}


def _statements(connection) -> list[str]:
    """ADD COLUMN statements; SQLite takes one column per statement."""
    false = "false" if connection.vendor == "postgresql" else "0"
    columns = {
        "model_usage_stats": [
            f"ttft_ms {ROW_FIELDS[0][1].db_type(connection)} NULL",
            f"tokens_estimated {ROW_FIELDS[1][1].db_type(connection)} DEFAULT {false} NOT NULL",
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
    dependencies = [("usage", "0006_day_summary")]

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
        # Choices live in Python only (usage.statuses): no database change.
        migrations.AlterField(
            model_name="modelusagestat",
            name="status",
            field=models.SmallIntegerField(
                choices=[
                    (1, "success"), (2, "rate_limited"), (3, "timeout"), (4, "error"),
                    (5, "auth_error"), (6, "invalid_request"), (7, "cancelled"),
                ]
            ),
        ),
    ]
