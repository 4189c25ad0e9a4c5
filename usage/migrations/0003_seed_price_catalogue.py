"""Load the shipped price catalogue (usage/catalogue.py) into the Price table.

It imports the catalogue module (plain constants, no models) rather than a copy, so there
is one list of prices; a database migrated earlier keeps the rows it got, and operators
edit prices in the admin.
"""

from datetime import datetime, timezone
from decimal import Decimal

from django.db import migrations

from usage import catalogue


def load(apps, schema_editor):
    Price = apps.get_model("usage", "Price")
    start = datetime.fromisoformat(catalogue.CATALOGUE_DATE).replace(tzinfo=timezone.utc)
    Price.objects.using(schema_editor.connection.alias).bulk_create(
        [
            Price(
                provider=provider,
                model=model,
                input_per_million=Decimal(p_in),
                output_per_million=Decimal(p_out),
                effective_from=start,
                source=catalogue.CATALOGUE_SOURCE,
            )
            for provider, models in catalogue.PRICES.items()
            for model, (p_in, p_out) in models.items()
        ],
        ignore_conflicts=True,
    )


def unload(apps, schema_editor):
    Price = apps.get_model("usage", "Price")
    Price.objects.using(schema_editor.connection.alias).filter(
        source=catalogue.CATALOGUE_SOURCE
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("usage", "0002_insertion_sequence_and_indexes")]

    operations = [migrations.RunPython(load, unload)]
