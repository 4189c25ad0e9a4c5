"""Slugs never read as tenant ids (issue 8): refuse them from now on, rename existing ones.

A slug that ``uuid.UUID`` reads (another tenant's id, or any 32 hex digits with hyphens)
is renamed to ``renamed-<slug>`` (cut to 64 characters, with a counter when taken). The
letters of "renamed" are not hex, so the new slug can never read as an id. Callers that
used such a slug reach nothing by it any more: a UUID always names the tenant with that id.
"""

import uuid

from django.db import migrations, models

import tenants.models


def _reads_as_id(slug: str) -> bool:
    try:
        uuid.UUID(slug)
    except ValueError:
        return False
    return True


def rename_slugs_that_read_as_ids(apps, schema_editor) -> None:
    Tenant = apps.get_model("tenants", "Tenant")
    for tenant in Tenant.objects.only("pk", "slug").order_by("created_at", "pk"):
        if not _reads_as_id(tenant.slug):
            continue
        base = f"renamed-{tenant.slug}"[:64]
        new, n = base, 1
        while Tenant.objects.filter(slug=new).exists():
            n += 1
            new = f"{base[: 64 - len(str(n)) - 1]}-{n}"
        Tenant.objects.filter(pk=tenant.pk).update(slug=new)


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0004_api_key_requests_per_minute"),
    ]

    operations = [
        migrations.AlterField(
            model_name="tenant",
            name="slug",
            field=models.SlugField(
                max_length=64,
                unique=True,
                validators=[tenants.models.validate_slug_is_not_an_id],
            ),
        ),
        migrations.RunPython(rename_slugs_that_read_as_ids, migrations.RunPython.noop),
    ]
