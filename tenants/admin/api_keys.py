"""Tenant API keys in the admin: created on a page that shows the key once, then revoked."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import ngettext

from tenants import selectors, services
from tenants.admin.scoping import TenantScopedAdmin
from tenants.forms import RefuseUnsafeText
from tenants.models import Tenant, TenantAPIKey
from tenants.permissions import Action


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

    def add_view(self, request, form_url="", extra_context=None):
        """Create a key and show it on the response itself, once; it is stored only hashed.

        The key is rendered, not redirected with a message, so it never sits in a cookie or
        the session store.
        """
        if not self.has_add_permission(request):
            raise PermissionDenied
        initial = {"tenant": request.GET.get("tenant")} if "tenant" in request.GET else {}
        form = APIKeyCreateForm(
            request.POST if request.method == "POST" else None, user=request.user, initial=initial
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Add tenant API key",
            "form": form,
        }
        if request.method == "POST" and form.is_valid():
            key, raw = services.api_key_create(
                tenant=form.cleaned_data["tenant"],
                name=form.cleaned_data["name"],
                created_by=request.user,
            )
            self.log_addition(request, key, [{"added": {}}])
            context.update(title="API key created", key=key, raw_key=raw)
            response = TemplateResponse(request, "admin/tenants/tenantapikey/created.html", context)
            response["Cache-Control"] = "no-store"
            return response
        return TemplateResponse(request, "admin/tenants/tenantapikey/add.html", context)
