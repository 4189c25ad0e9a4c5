"""Tenant API keys in the admin: created, shown once on the page after, then revoked."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import ngettext

from tenants import selectors, services
from tenants.admin.scoping import TenantScopedAdmin
from tenants.forms import RefuseUnsafeText
from tenants.models import Tenant, TenantAPIKey
from tenants.permissions import Action

# Where add_view leaves a new key for created_view, which takes it out at once.
NEW_KEY_SESSION_FIELD = "tenants:new_api_key"


class APIKeyCreateForm(RefuseUnsafeText, forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none())
    name = forms.CharField(
        max_length=services.API_KEY_NAME_MAX_LENGTH,
        help_text="What uses this key, e.g. “billing service”.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tenant"].queryset = selectors.tenants_for_user(
            user, Action.MANAGE_API_KEYS
        )


class RevokedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("active", "Active"), ("revoked", "Revoked"))

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(TenantAPIKey)
class TenantAPIKeyAdmin(TenantScopedAdmin):
    """Every member sees their tenants' keys (never the keys themselves); operators and
    owners create, rename and revoke them; deleting is for superusers (revoke instead: a
    revoked key keeps the record of who made it and when it was used)."""

    change_action = Action.MANAGE_API_KEYS
    add_action = Action.MANAGE_API_KEYS
    list_display = (
        "name",
        "tenant",
        "key_label",
        "state",
        "created_at",
        "created_by",
        "last_used_at",
        "requests_per_minute",
    )
    list_select_related = ("tenant", "created_by")
    list_filter = (RevokedFilter,)
    search_fields = ("name", "prefix", "tenant__name", "tenant__slug")
    readonly_fields = (
        "tenant",
        "key_label",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    )
    # Only the name and the key's request limit (the OpenAI-compatible endpoint's, across
    # every server process) can be changed; the key itself is never shown after creation.
    fields = ("name", "requests_per_minute", *readonly_fields)
    actions = ("revoke_selected",)

    @admin.display(description="key")
    def key_label(self, obj: TenantAPIKey) -> str:
        return f"tk_{obj.prefix}_…"

    @admin.display(description="state")
    def state(self, obj: TenantAPIKey) -> str:
        return "active" if obj.is_active else "revoked"

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_selected(self, request, queryset):
        # The action is offered to anyone who manages some tenant's keys; a selection may
        # also hold keys of tenants where the user is only a viewer: those stay.
        allowed = queryset.filter(
            tenant__in=selectors.tenants_for_user(request.user, Action.MANAGE_API_KEYS)
        )
        if skipped := queryset.count() - allowed.count():
            self.message_user(
                request,
                ngettext(
                    "%d key was left alone: your role does not allow revoking it.",
                    "%d keys were left alone: your role does not allow revoking them.",
                    skipped,
                )
                % skipped,
                messages.WARNING,
            )
        revoked = sum(services.api_key_revoke(key=key) for key in allowed)
        self.message_user(
            request,
            ngettext("Revoked %d key.", "Revoked %d keys.", revoked) % revoked,
            messages.SUCCESS,
        )

    def get_urls(self):
        created = path(
            "created/",
            self.admin_site.admin_view(self.created_view),
            name="tenants_tenantapikey_created",
        )
        return [created, *super().get_urls()]

    def add_view(self, request, form_url="", extra_context=None):
        """Create a key, then redirect to the page that shows it once (redirect after POST:
        reloading that page never creates a second key). It is stored only hashed; the
        plain key waits in the user's own session until that page takes it out."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        initial = {"tenant": request.GET.get("tenant")} if "tenant" in request.GET else {}
        form = APIKeyCreateForm(
            request.POST if request.method == "POST" else None, user=request.user, initial=initial
        )
        if request.method == "POST" and form.is_valid():
            key, raw = services.api_key_create(
                tenant=form.cleaned_data["tenant"],
                name=form.cleaned_data["name"],
                created_by=request.user,
            )
            self.log_addition(request, key, [{"added": {}}])
            request.session[NEW_KEY_SESSION_FIELD] = {"id": key.pk, "raw": raw}
            return HttpResponseRedirect(reverse("admin:tenants_tenantapikey_created"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Add tenant API key",
            "form": form,
        }
        return TemplateResponse(request, "admin/tenants/tenantapikey/add.html", context)

    def created_view(self, request):
        """Show the key created last in this session, once; afterwards, say it is gone."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        new = request.session.pop(NEW_KEY_SESSION_FIELD, None) or {}
        key = TenantAPIKey.objects.select_related("tenant").filter(pk=new.get("id")).first()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API key created" if key else "API key no longer shown",
            "key": key,
            "raw_key": new.get("raw") if key else None,
        }
        response = TemplateResponse(request, "admin/tenants/tenantapikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response
