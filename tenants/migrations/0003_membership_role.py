"""Roles on memberships (tenants.permissions), replacing the "Tenant administrators" group.

Existing memberships become operators: what every member could do before roles existed
(view and change the tenant's config and keys, test keys, manage API keys). The group's
model permissions no longer grant anything on tenant data, so the group is removed when
it holds nothing but the permissions it was created with; a group someone extended with
other permissions is left as it is.
"""

from django.db import migrations, models

GROUP_NAME = "Tenant administrators"
ORIGINAL_PERMISSIONS = {
    "view_tenant",
    "change_tenant",
    "view_tenantmembership",
    "view_tenantapikey",
    "add_tenantapikey",
    "change_tenantapikey",
}


def drop_tenant_administrators_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name=GROUP_NAME).first()
    if group is None:
        return
    held = set(group.permissions.values_list("content_type__app_label", "codename"))
    if held <= {("tenants", codename) for codename in ORIGINAL_PERMISSIONS}:
        group.delete()


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("tenants", "0002_api_key_ordering"),
    ]

    operations = [
        migrations.AddField(
            model_name="tenantmembership",
            name="role",
            field=models.CharField(
                choices=[("viewer", "Viewer"), ("operator", "Operator"), ("owner", "Owner")],
                default="operator",
                help_text=(
                    "Viewer: sees the tenant, its keys' status, config, members, API keys and"
                    " usage. Operator: also changes the config and provider keys, tests keys,"
                    " manages API keys. Owner: also manages the staff members of the tenant"
                    " and their roles."
                ),
                max_length=16,
            ),
        ),
        migrations.RunPython(drop_tenant_administrators_group, migrations.RunPython.noop),
    ]
