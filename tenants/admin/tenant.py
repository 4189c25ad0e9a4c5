"""The Tenant admin: its fields, its inference config as a form, and its provider keys."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from tenants import inference_config, permissions, selectors, services
from tenants.admin.scoping import MissingBeforeForbiddenMixin, RolePermissionsMixin
from tenants.forms import InferenceConfigForm, ProviderKeysForm, RefuseUnsafeText
from tenants.models import Tenant, TenantAPIKey, TenantMembership, timezone_names
from tenants.permissions import Action

_MODEL_FIELDS = ("name", "slug", "timezone", "is_active")


class TenantAdminForm(RefuseUnsafeText, forms.ModelForm):
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


class MembershipForm(forms.ModelForm):
    """A member is named by username, so the page never lists every staff user of the
    platform (an owner of one tenant must not learn who administers the others)."""

    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(),
        to_field_name="username",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="The username of an active staff user.",
        error_messages={"invalid_choice": "No active staff user has this username."},
    )

    class Meta:
        model = TenantMembership
        fields = ("user", "role", "budget_alerts")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(is_staff=True, is_active=True)
        self.fields["user"].queryset = users
        if self.instance.pk:
            # An existing membership keeps its user; change the role or delete the row.
            self.initial["user"] = self.instance.user.get_username()
            self.fields["user"].disabled = True


class _OnTheTenantPage(RolePermissionsMixin):
    """Inlines on the tenant page: ``obj`` is the tenant itself (None on the add page)."""

    def tenant_of(self, obj):
        return obj


class TenantMembershipInline(_OnTheTenantPage, admin.TabularInline):
    """Members and their roles: seen by every member, managed by owners and superusers."""

    model = TenantMembership
    form = MembershipForm
    extra = 0
    fields = ("user", "role", "budget_alerts", "created_at")
    readonly_fields = ("created_at",)
    verbose_name = "staff member"
    verbose_name_plural = "staff members (who may administer this tenant, and their role)"
    change_action = Action.MANAGE_MEMBERS
    add_action = Action.MANAGE_MEMBERS

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def has_delete_permission(self, request, obj=None):
        return self.role_allows(request, Action.MANAGE_MEMBERS, obj)


class TenantAPIKeyInline(_OnTheTenantPage, admin.TabularInline):
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

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Tenant)
class TenantAdmin(RolePermissionsMixin, MissingBeforeForbiddenMixin, admin.ModelAdmin):
    """Viewers see the page read-only; operators and owners change the tenant's fields,
    config and keys; adding and deleting tenants is for superusers (``add_action`` None;
    deleting a tenant deletes its usage history too)."""

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

    # The add and change pages post provider keys: hidden from error pages and mails.
    @method_decorator(sensitive_post_parameters())
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_queryset(self, request):
        return selectors.tenants_for_user(request.user).order_by(*Tenant._meta.ordering)

    def tenant_of(self, obj):
        return obj

    def has_change_permission(self, request, obj=None):
        # The page changes the tenant's own fields and config and its provider keys at once.
        return self.role_allows(request, Action.CHANGE_CONFIG, obj) and self.role_allows(
            request, Action.CHANGE_KEYS, obj
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_manage_api_keys"] = obj is not None and permissions.can(
            request.user, Action.MANAGE_API_KEYS, obj
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="provider keys")
    def providers_configured(self, obj: Tenant) -> str:
        # Read from the row itself (the keys of the JSON map): no query per row.
        return ", ".join(obj.configured_providers()) or "—"

    @admin.display(description="preferred provider")
    def preferred_provider(self, obj: Tenant) -> str:
        return obj.config.preferred_provider

    @method_decorator(sensitive_variables())
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
