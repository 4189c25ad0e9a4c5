from django.contrib import admin

from tenants import selectors


class TenantScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin for rows that belong to a tenant (through ``tenant_field``).

    Lists, change pages and foreign-key choices all show only the requesting user's
    tenants, so a row of another tenant is indistinguishable from a missing one.
    """

    tenant_field = "tenant"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(
            **{f"{self.tenant_field}__in": selectors.tenants_for_user(request.user)}
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == self.tenant_field:
            kwargs["queryset"] = selectors.tenants_for_user(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
