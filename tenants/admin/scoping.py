"""What every tenant admin shares: 404 for another tenant's rows, permissions from roles."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db import IntegrityError
from django.http import Http404, HttpResponseRedirect

from tenants import permissions, selectors
from tenants.permissions import Action


class MissingBeforeForbiddenMixin:
    """Answer for another tenant's row exactly as for a missing one, on every page: a 404.

    Django's own answer for a missing row is a redirect to the admin home with a "doesn't
    exist" message; the agreed answer for another tenant's id everywhere (API, screens,
    admin) is a 404, so the change, history and delete views raise it instead.
    Django's delete view checks the permission before the object, so a staff user without
    delete permission would get a 403 for another tenant's row where a missing row gets the
    404; its change view asks about a missing row's permission with no object, which a
    staff user with no tenant fails. Checking the (scoped) object first removes both.
    """

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404(f"No {opts.verbose_name} with this id.")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Django asks "may this user change or view *any* row?" when the row is missing,
        # which a staff user with no tenant fails with a 403: look the row up first.
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404(f"No {self.opts.verbose_name} with this id.")
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404(f"No {self.opts.verbose_name} with this id.")
        return super().delete_view(request, object_id, extra_context)


class RolePermissionsMixin:
    """The admin's ``has_*_permission`` answers, asked of ``tenants.permissions``.

    Django's model permissions are not consulted: what a staff user may do with a row is
    what their role on the row's tenant allows (``can``), so the admin, the operator
    screens and the API agree. ``None`` as an action means superusers only; deleting is
    always for superusers only. Without an object (lists, the add page) the question is
    "on at least one tenant".
    """

    view_action: Action | None = Action.VIEW_TENANT
    change_action: Action | None = None
    add_action: Action | None = None

    def tenant_of(self, obj):
        """The tenant (or its id) whose role decides about ``obj``."""
        return obj.tenant_id

    def role_allows(self, request, action: Action | None, obj=None) -> bool:
        if action is None:
            return permissions.is_superuser(request.user)
        tenant = None if obj is None else self.tenant_of(obj)
        return permissions.can(request.user, action, tenant)

    def has_module_permission(self, request):
        return self.role_allows(request, self.view_action)

    def has_view_permission(self, request, obj=None):
        return self.role_allows(request, self.view_action, obj)

    def has_change_permission(self, request, obj=None):
        return self.role_allows(request, self.change_action, obj)

    def has_add_permission(self, request, *args):
        # ModelAdmin passes (request), InlineModelAdmin (request, parent_obj).
        return self.role_allows(request, self.add_action, *args)

    def has_delete_permission(self, request, obj=None):
        return permissions.is_superuser(request.user)


class TenantScopedAdmin(RolePermissionsMixin, MissingBeforeForbiddenMixin, admin.ModelAdmin):
    """A ModelAdmin for rows that belong to a tenant (through ``tenant_field``).

    Lists, change pages and foreign-key choices all show only the requesting user's
    tenants, so a row of another tenant is indistinguishable from a missing one; what the
    user may do with a row comes from their role on its tenant.
    """

    tenant_field = "tenant"

    def tenant_of(self, obj):
        return getattr(obj, f"{self.tenant_field}_id")

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # A form checks the model's unique constraints (a tenant's budget per period, its
        # price per model and date, its one webhook), but another admin may save the same
        # row between that check and this save: the database then refuses it, the admin's
        # transaction is rolled back, and the user is told rather than shown a 500.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except IntegrityError:
            self.message_user(
                request, f"Nothing was saved: someone else saved the same "
                f"{self.model._meta.verbose_name} meanwhile. Reload and change that one "
                "instead.", messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())

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
