"""The Tenant admin: its fields, its inference config as a form, and its provider keys."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model

from tenants import inference_config, selectors, services
from tenants.admin.scoping import MissingBeforeForbiddenMixin
from tenants.forms import InferenceConfigForm, ProviderKeysForm
from tenants.models import Tenant, TenantAPIKey, TenantMembership, timezone_names

_MODEL_FIELDS = ("name", "slug", "timezone", "is_active")


class TenantAdminForm(forms.ModelForm):
    """The tenant's own fields plus two sub-forms: ``config_form`` and ``keys_form``.

    The page is valid only when all three are, so a bad key or a bad config saves nothing.
    The JSON fields themselves are never form fields: their raw content never reaches HTML.
    """

    timezone = forms.TypedChoiceField(choices=(), initial="UTC", help_text="IANA time zone.")

    class Meta:
        model = Tenant
        fields = _MODEL_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [(name, name) for name in sorted(timezone_names())]
        data = self.data if self.is_bound else None
        tenant = self.instance
        config = (
            tenant.config
            if not tenant._state.adding
            else inference_config.load(inference_config.default_config_json())
        )
        self.config_form = InferenceConfigForm(data, config=config, prefix="config")
        self.keys_form = ProviderKeysForm(
            data, status=services.tenant_token_status(tenant=tenant), prefix="keys"
        )

    def full_clean(self):
        super().full_clean()
        if not self.is_bound:
            return
        # Both sub-forms are validated (no short-circuit) so every error shows at once.
        if not all([self.config_form.is_valid(), self.keys_form.is_valid()]):
            self.add_error(
                None, "Fix the errors in the inference config or provider keys sections below."
            )


class TenantMembershipInline(admin.TabularInline):
    model = TenantMembership
    extra = 0
    fields = ("user", "created_at")
    readonly_fields = ("created_at",)
    verbose_name = "staff member"
    verbose_name_plural = "staff members (who may administer this tenant)"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True, is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class TenantAPIKeyInline(admin.TabularInline):
    """Read-only list; keys are created on their own page so the key can be shown once."""

    model = TenantAPIKey
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("name", "key_label", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields

    @admin.display(description="key")
    def key_label(self, obj):
        return str(obj)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Tenant)
class TenantAdmin(MissingBeforeForbiddenMixin, admin.ModelAdmin):
    form = TenantAdminForm
    change_form_template = "admin/tenants/tenant/tenant_change_form.html"
    list_display = (
        "name",
        "slug",
        "providers_configured",
        "preferred_provider",
        "timezone",
        "is_active",
        "updated_at",
    )
    list_filter = ("is_active",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("id", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "slug", "timezone", "is_active")}),
        ("Record", {"fields": ("id", "created_at", "updated_at"), "classes": ("collapse",)}),
    )
    inlines = (TenantMembershipInline, TenantAPIKeyInline)

    def get_queryset(self, request):
        return selectors.tenants_for_user(request.user).order_by(*Tenant._meta.ordering)

    def has_delete_permission(self, request, obj=None):
        # Deleting a tenant deletes its usage history too: superusers only.
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    @admin.display(description="provider keys")
    def providers_configured(self, obj: Tenant) -> str:
        # Read from the row itself (the keys of the JSON map): no query per row.
        return ", ".join(obj.configured_providers()) or "—"

    @admin.display(description="preferred provider")
    def preferred_provider(self, obj: Tenant) -> str:
        return obj.config.preferred_provider

    def save_model(self, request, obj, form, change):
        if change:
            # Only the fields on the form: the key and config JSON go through services,
            # which lock the row, so a stale copy here can never overwrite them.
            changed = [f for f in form.changed_data if f in _MODEL_FIELDS]
            if changed:
                obj.save(update_fields=[*changed, "updated_at"])
        else:
            obj.save()
        services.tenant_update_inference_config(
            tenant=obj, patch=form.config_form.config_document(), replace=True
        )
        if changes := form.keys_form.changes():
            services.tenant_set_tokens(tenant=obj, tokens=changes)

    def construct_change_message(self, request, form, formsets, add=False):
        message = super().construct_change_message(request, form, formsets, add)
        extra = []
        if form.config_form.has_changed():
            extra.append("inference config")
        # Which providers' keys changed, never what they changed to.
        extra += [f"{provider} key" for provider in form.keys_form.changes()]
        if extra and not add:
            message.append({"changed": {"fields": extra}})
        return message
