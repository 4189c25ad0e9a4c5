from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants import checks  # noqa: F401  (registers the system checks)
        from tenants.permissions import ensure_tenant_admin_group

        # After auth has created this app's permissions (it is connected earlier).
        post_migrate.connect(ensure_tenant_admin_group, sender=self)
