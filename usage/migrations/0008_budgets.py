"""Budgets (issue 12): the tenant's limits, their windows, what processes hold reserved in
them, the alerts they fired, and the status ``budget_exceeded`` with its summary count.

The summary column is added with a plain ``ALTER TABLE ... ADD COLUMN`` (see 0007: on
SQLite Django would rebuild the table; on PostgreSQL it is a catalogue change).
"""

import django.core.validators
import django.db.models.deletion
from decimal import Decimal

from django.db import migrations, models

import usage.models

SUMMARY_TABLES = {
    "modelusagesummary": "model_usage_summary",
    "modelusagedaysummary": "model_usage_day_summary",
}
COLUMN = "budget_refused"


def add_columns(apps, schema_editor):
    connection = schema_editor.connection
    kind = models.IntegerField().db_type(connection)
    for table in SUMMARY_TABLES.values():
        schema_editor.execute(f"ALTER TABLE {table} ADD COLUMN {COLUMN} {kind} DEFAULT 0 NOT NULL")
        if connection.vendor == "postgresql":
            # Django's own schema: the application supplies every value, no DB default.
            schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN {COLUMN} DROP DEFAULT")


def drop_columns(apps, schema_editor):
    for table in SUMMARY_TABLES.values():
        schema_editor.execute(f"ALTER TABLE {table} DROP COLUMN {COLUMN}")


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0005_tenant_slug_is_never_an_id"),
        ("usage", "0007_stream_fields"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(add_columns, drop_columns)],
            state_operations=[
                migrations.AddField(
                    model_name=model, name=COLUMN, field=models.IntegerField(default=0)
                )
                for model in SUMMARY_TABLES
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
                    (8, "budget_exceeded"),
                ]
            ),
        ),
        migrations.CreateModel(
            name="Budget",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("period", models.CharField(choices=[("day", "Daily"), ("month", "Monthly")], max_length=5)),
                ("limit_usd", models.DecimalField(decimal_places=6, max_digits=14, validators=[django.core.validators.MinValueValidator(Decimal("0")), django.core.validators.MaxValueValidator(Decimal("1000000"))], verbose_name="limit (USD)")),
                ("mode", models.CharField(choices=[("hard", "Hard: refuse new requests once reached"), ("soft", "Soft: allow, and alert")], default="hard", max_length=4)),
                ("alert_thresholds", models.CharField(default="50,80,100", help_text="Percents of the limit at which an alert fires, once per window (comma-separated, 1 to 1000).", max_length=60, validators=[usage.models.validate_thresholds])),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("tenant", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="budgets", to="tenants.tenant")),
            ],
            options={"db_table": "usage_budgets", "ordering": ["tenant", "period"]},
        ),
        migrations.AddConstraint(
            model_name="budget",
            constraint=models.UniqueConstraint(fields=("tenant", "period"), name="unique_budget_period"),
        ),
        migrations.AddConstraint(
            model_name="budget",
            constraint=models.CheckConstraint(condition=models.Q(("limit_usd__gte", 0)), name="budget_limit_not_negative"),
        ),
        migrations.CreateModel(
            name="BudgetWindow",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("period", models.CharField(choices=[("day", "Daily"), ("month", "Monthly")], max_length=5)),
                ("starts_at", models.DateTimeField()),
                ("ends_at", models.DateTimeField()),
                ("spent_pusd", models.BigIntegerField(default=0)),
                ("estimated_pusd", models.BigIntegerField(default=0)),
                ("refused", models.IntegerField(default=0)),
                ("tenant", models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenants.tenant")),
            ],
            options={"db_table": "usage_budget_windows"},
        ),
        migrations.AddConstraint(
            model_name="budgetwindow",
            constraint=models.UniqueConstraint(fields=("tenant", "period", "starts_at"), name="unique_budget_window"),
        ),
        migrations.CreateModel(
            name="BudgetHold",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("holder", models.CharField(max_length=40)),
                ("amount_pusd", models.BigIntegerField(default=0)),
                ("renewed_at", models.DateTimeField()),
                ("window", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="holds", to="usage.budgetwindow")),
            ],
            options={"db_table": "usage_budget_holds"},
        ),
        migrations.AddConstraint(
            model_name="budgethold",
            constraint=models.UniqueConstraint(fields=("window", "holder"), name="unique_budget_hold"),
        ),
        migrations.CreateModel(
            name="BudgetAlert",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("threshold", models.SmallIntegerField()),
                ("fired_at", models.DateTimeField()),
                ("spent_pusd", models.BigIntegerField()),
                ("limit_pusd", models.BigIntegerField()),
                ("mode", models.CharField(choices=[("hard", "Hard: refuse new requests once reached"), ("soft", "Soft: allow, and alert")], max_length=4)),
                ("emailed_at", models.DateTimeField(blank=True, null=True)),
                ("email_error", models.CharField(blank=True, default="", max_length=200)),
                ("webhook_at", models.DateTimeField(blank=True, null=True)),
                ("webhook_error", models.CharField(blank=True, default="", max_length=200)),
                ("delivery_attempts", models.SmallIntegerField(default=0)),
                ("tenant", models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenants.tenant")),
                ("window", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="alerts", to="usage.budgetwindow")),
            ],
            options={"db_table": "usage_budget_alerts", "ordering": ["-fired_at"]},
        ),
        migrations.AddConstraint(
            model_name="budgetalert",
            constraint=models.UniqueConstraint(fields=("window", "threshold"), name="unique_budget_alert"),
        ),
    ]
