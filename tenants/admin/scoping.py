from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.http import Http404

from tenants import selectors


class MissingBeforeForbiddenMixin:
    """Answer for another tenant's row exactly as for a missing one, on every page: a 404.

    Django's own answer for a missing row is a redirect to the admin home with a "doesn't
    exist" message; the agreed answer for another tenant's id everywhere (API, screens,
    admin) is a 404, so the change, history and delete views raise it instead.
    Django's delete view checks the permission before the object, so a staff user without
    delete permission would get a 403 for another tenant's row where a missing row gets the
    404; checking the (scoped) object first removes that difference.
    """

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404(f"No {opts.verbose_name} with this id.")

    def delete_view(self, request, object_id, extra_context=None):
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404(f"No {self.opts.verbose_name} with this id.")
        return super().delete_view(request, object_id, extra_context)


class TenantScopedAdmin(MissingBeforeForbiddenMixin, admin.ModelAdmin):
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
