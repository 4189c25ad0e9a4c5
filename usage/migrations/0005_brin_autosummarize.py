"""BRIN ranges summarised as pages fill (by autovacuum), so range scans over recent rows
skip what they should skip without waiting for the next VACUUM."""

from django.db import migrations

INDEXES = ("model_usage_stats_seq_brin", "model_usage_stats_created_brin")


def _set(value: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for name in INDEXES:
                schema_editor.execute(f"ALTER INDEX {name} SET (autosummarize = {value})")

    return run


class Migration(migrations.Migration):
    dependencies = [("usage", "0004_summary_pruned_before")]

    operations = [migrations.RunPython(_set("on"), _set("off"))]
