from __future__ import annotations

import uuid
import zoneinfo
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from tenants import inference_config
from tenants.permissions import DEFAULT_ROLE, ROLE_HELP, Role


@lru_cache(maxsize=1)
def timezone_names() -> frozenset[str]:
    """Every IANA zone name (read once: listing them walks the tz database on disk)."""
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    if value not in timezone_names():
        raise ValidationError(f"{value!r} is not an IANA time zone name (like Europe/Paris).")


def parse_tenant_id(value: object) -> uuid.UUID | None:
    """The UUID that ``value`` spells in any form ``uuid.UUID`` reads, or None.

    Internal callers name a tenant by id or by slug; whatever parses here is an id and
    is looked up as one only, never as a slug (see ``validate_slug_is_not_an_id``).
    """
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def validate_slug_is_not_an_id(value: str) -> None:
    """A slug that reads as a UUID could pass for another tenant's id: refused."""
    if parse_tenant_id(value) is not None:
        raise ValidationError(
            "A slug cannot read as a tenant id (a UUID); add a letter outside a-f.",
            code="slug_is_an_id",
        )


class Tenant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    # Never UUID-shaped: internal callers pass "an id or a slug", and an id always wins.
    slug = models.SlugField(max_length=64, unique=True, validators=[validate_slug_is_not_an_id])
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    is_active = models.BooleanField(default=True)
    # provider -> Fernet ciphertext (see tenants.crypto). Never plaintext.
    llm_tokens = models.JSONField(default=dict, blank=True)
    # provider -> {"fingerprint", "set_at", "tested_at", "test_valid", "test_message",
    # "failing_since"}: what may be shown about a key. Never key material.
    llm_token_status = models.JSONField(default=dict, blank=True)
    inference_config = models.JSONField(default=inference_config.default_config_json)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tenants"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def config(self) -> inference_config.InferenceConfig:
        return inference_config.load(self.inference_config)

    def configured_providers(self) -> list[str]:
        return sorted(p for p, c in (self.llm_tokens or {}).items() if c)


class TenantMembership(models.Model):
    """A staff user who administers a tenant, with a role (what they may do: see
    ``tenants.permissions``). Superusers need none: they see and change every tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tenant_memberships"
    )
    role = models.CharField(
        max_length=16, choices=Role.choices, default=DEFAULT_ROLE, help_text=ROLE_HELP
    )
    # Budget alerts (usage/budget_alerts.py) are emailed to the members who ask for them.
    budget_alerts = models.BooleanField(
        "email budget alerts",
        default=False,
        help_text="Email this member when a budget of the tenant reaches an alert threshold.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="unique_tenant_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} ({self.role})"


class TenantAPIKey(models.Model):
    """A key an internal service presents as ``Authorization: Bearer tk_<prefix>_<secret>``.

    Only a SHA-256 of the whole key is stored (the key is 256 bits of randomness, so a
    slow hash adds nothing); the prefix finds the row without a scan.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Requests a minute this key may send to the OpenAI-compatible endpoint, counted across
    # every process (llm_routing/gateway); empty: no limit of its own.
    requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Requests a minute through /v1/ (all server processes together); "
        "empty for no limit.",
    )

    class Meta:
        verbose_name = "tenant API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (tk_{self.prefix}_…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AlertWebhook(models.Model):
    """Where a tenant's budget alerts are POSTed, and the secret they are signed with.

    Set by owners (``Action.MANAGE_ALERT_WEBHOOK``). The URL is checked against private
    addresses at save and at every send (``tenants.webhook_urls``). The secret is stored
    like a provider key: Fernet ciphertext bound to this tenant (``tenants.crypto``, slot
    ``SECRET_SLOT``), never shown again after saving; only its fingerprint is.
    """

    SECRET_SLOT = "budget-alert-webhook"

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="alert_webhook")
    url = models.CharField("URL", max_length=500)
    secret = models.TextField(editable=False)  # ciphertext
    secret_fingerprint = models.CharField(max_length=20, editable=False)
    is_active = models.BooleanField(
        default=True, help_text="Off: alerts are not POSTed (email still goes out)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tenant_alert_webhooks"
        verbose_name = "budget alert webhook"

    def __str__(self) -> str:
        return f"Budget alert webhook of {self.tenant}"

    def set_secret(self, secret: str) -> None:
        from tenants import crypto

        self.secret = crypto.encrypt_token(
            tenant_id=self.tenant_id, provider=self.SECRET_SLOT, token=secret
        )
        self.secret_fingerprint = crypto.fingerprint(secret)

    def plain_secret(self) -> str:
        """The signing secret (raises ``crypto.TokenDecryptionError`` when unreadable)."""
        from tenants import crypto

        return crypto.decrypt_token(
            tenant_id=self.tenant_id, provider=self.SECRET_SLOT, ciphertext=self.secret
        )
