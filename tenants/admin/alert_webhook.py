"""The budget alert webhook of a tenant: its URL and signing secret, set by owners.

The URL is checked before anything is saved (``tenants.webhook_urls``: https, public
addresses only unless settings allow otherwise). The secret is write-only, like a provider
key: typed once, stored encrypted, afterwards only "configured" and its fingerprint show.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from tenants import live_keys, selectors, webhook_urls
from tenants.admin.scoping import TenantScopedAdmin
from tenants.forms import RefuseUnsafeText
from tenants.models import AlertWebhook
from tenants.permissions import Action

SECRET_MIN_LENGTH = 32


class AlertWebhookForm(RefuseUnsafeText, forms.ModelForm):
    url = forms.CharField(
        label="URL",
        max_length=webhook_urls.MAX_LENGTH,
        help_text="Where alerts are POSTed: https, on a public address.",
    )
    new_secret = forms.CharField(
        label="signing secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=f"At least {SECRET_MIN_LENGTH} characters, e.g. the output of "
        "<code>python -c \"import secrets; print(secrets.token_urlsafe(32))\"</code>. "
        "Give the same secret to the receiver. Leave empty to keep the current one.",
    )

    class Meta:
        model = AlertWebhook
        fields = ("tenant", "url", "is_active")

    def clean_url(self):
        url = self.cleaned_data["url"].strip()
        webhook_urls.validate(url)
        return url

    @method_decorator(sensitive_variables())
    def clean_new_secret(self):
        secret = self.cleaned_data.get("new_secret") or ""
        if not secret and self.instance.pk is None:
            raise forms.ValidationError("Give the secret the receiver checks signatures with.")
        if secret and len(secret) < SECRET_MIN_LENGTH:
            raise forms.ValidationError(
                f"Use at least {SECRET_MIN_LENGTH} characters (random ones)."
            )
        if secret and any(ord(c) < 33 or ord(c) > 126 for c in secret):
            raise forms.ValidationError("Use printable ASCII characters without spaces.")
        live_keys.remember(secret)  # scrubbed from logs and error pages from now on
        return secret


@admin.register(AlertWebhook)
class AlertWebhookAdmin(TenantScopedAdmin):
    """Members see whether a tenant has a webhook and where it points; owners set it."""

    form = AlertWebhookForm
    change_action = Action.MANAGE_ALERT_WEBHOOK
    add_action = Action.MANAGE_ALERT_WEBHOOK
    list_display = ("tenant", "url", "is_active", "secret_fingerprint", "updated_at")
    list_select_related = ("tenant",)
    readonly_fields = ("secret_fingerprint", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        return ("tenant", *self.readonly_fields) if obj is not None else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "tenant":
            kwargs["queryset"] = selectors.tenants_for_user(
                request.user, Action.MANAGE_ALERT_WEBHOOK
            )
            return db_field.formfield(**kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return self.role_allows(request, Action.MANAGE_ALERT_WEBHOOK, obj)

    @method_decorator(sensitive_post_parameters())
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    @method_decorator(sensitive_variables())
    def save_model(self, request, obj, form, change):
        if secret := form.cleaned_data.get("new_secret"):
            obj.set_secret(secret)
        obj.save()

    def construct_change_message(self, request, form, formsets, add=False):
        message = super().construct_change_message(request, form, formsets, add)
        if form.cleaned_data.get("new_secret") and not add:
            message.append({"changed": {"fields": ["signing secret"]}})
        return message
