"""PostgreSQL tells every listening process when a key or a tenant changes
(tenants/key_cache.py): NOTIFY is delivered when the writing transaction commits.

A key's last use (written at most once a minute) is left out: it changes nothing a cached
key stands for. Other databases get nothing (SQLite has no NOTIFY; there keys are read on
every request)."""

from django.db import migrations

CHANNEL = "tenants_api_keys"

FORWARD = [
    f"""CREATE OR REPLACE FUNCTION tenants_notify_key_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER tenants_api_key_changed
    AFTER UPDATE OF tenant_id, prefix, key_hash, revoked_at, requests_per_minute
    ON tenants_tenantapikey FOR EACH STATEMENT EXECUTE FUNCTION tenants_notify_key_change()""",
    """CREATE TRIGGER tenants_api_key_deleted
    AFTER DELETE OR TRUNCATE ON tenants_tenantapikey
    FOR EACH STATEMENT EXECUTE FUNCTION tenants_notify_key_change()""",
    """CREATE TRIGGER tenants_tenant_changed
    AFTER UPDATE OR DELETE OR TRUNCATE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION tenants_notify_key_change()""",
]
BACKWARD = [
    "DROP TRIGGER IF EXISTS tenants_tenant_changed ON tenants",
    "DROP TRIGGER IF EXISTS tenants_api_key_deleted ON tenants_tenantapikey",
    "DROP TRIGGER IF EXISTS tenants_api_key_changed ON tenants_tenantapikey",
    "DROP FUNCTION IF EXISTS tenants_notify_key_change()",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)
    return run


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0006_alert_webhook_and_member_alerts"),
    ]

    operations = [
        migrations.RunPython(_run(FORWARD), _run(BACKWARD), elidable=False),
    ]
