"""Writes to tenants: provider keys, inference config, API keys. Views and commands call these."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone

from llm_routing import providers
from tenants import crypto, inference_config
from tenants.models import Tenant, TenantAPIKey


class TokenValidationError(ValueError):
    """One or more submitted provider keys are unusable; ``errors`` maps provider -> message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def token_format_problem(provider: str, token: object) -> str | None:
    """Why ``token`` cannot be a key for ``provider`` (None when it can). Never echoes it."""
    if not providers.is_known(provider):
        return f"unknown provider; known: {', '.join(providers.provider_names())}"
    if not isinstance(token, str):
        return "must be a string (or null to remove the key)"
    if not providers.get_provider(provider).key_is_well_formed(token):
        return f"is not a valid {provider} key: expected {providers.get_provider(provider).key_hint}"
    return None


def _now_iso() -> str:
    return timezone.now().isoformat()


@transaction.atomic
def tenant_set_tokens(*, tenant: Tenant, tokens: dict[str, Any]) -> dict[str, str]:
    """Set, replace (a string) or remove (None) provider keys; untouched providers stay.

    Every key is validated before anything is written: one bad key and nothing changes.
    Returns provider -> "set" | "removed" | "unchanged".
    """
    if not isinstance(tokens, dict):
        raise TokenValidationError({"": "must be an object of provider -> key"})
    errors = {
        str(p): problem
        for p, t in tokens.items()
        if t is not None and (problem := token_format_problem(p, t))
    }
    errors.update(
        {str(p): token_format_problem(p, "") for p, t in tokens.items()
         if t is None and not providers.is_known(p)}
    )
    if errors:
        raise TokenValidationError(errors)

    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    stored, status = dict(locked.llm_tokens or {}), dict(locked.llm_token_status or {})
    outcome: dict[str, str] = {}
    for provider, token in tokens.items():
        if token is None:
            outcome[provider] = "removed" if stored.pop(provider, None) else "unchanged"
            status.pop(provider, None)
            continue
        stored[provider] = crypto.encrypt_token(tenant_id=locked.pk, provider=provider, token=token)
        status[provider] = {"fingerprint": crypto.fingerprint(token), "set_at": _now_iso()}
        outcome[provider] = "set"
    locked.llm_tokens, locked.llm_token_status = stored, status
    locked.save(update_fields=["llm_tokens", "llm_token_status", "updated_at"])
    tenant.llm_tokens, tenant.llm_token_status = stored, status
    tenant.updated_at = locked.updated_at
    return outcome


def tenant_provider_key(*, tenant: Tenant, provider: str) -> str | None:
    """The plaintext key for one provider, or None when none is stored.

    Raises crypto.TokenDecryptionError when a stored key cannot be read: a broken key is
    never silently treated as "no key". Only the provider client should call this.
    """
    ciphertext = (tenant.llm_tokens or {}).get(provider)
    if not ciphertext:
        return None
    return crypto.decrypt_token(tenant_id=tenant.pk, provider=provider, ciphertext=ciphertext)


def _update_status(tenant: Tenant, provider: str, changes: dict[str, Any]) -> None:
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        status = dict(locked.llm_token_status or {})
        if provider not in (locked.llm_tokens or {}):
            return
        entry = dict(status.get(provider) or {})
        entry.update(changes)
        status[provider] = entry
        # A queryset update: the config has not changed, so routers keep their cache.
        Tenant.objects.filter(pk=locked.pk).update(llm_token_status=status)
    tenant.llm_token_status = status


def tenant_record_token_test(*, tenant: Tenant, provider: str, valid: bool, message: str) -> None:
    """Remember when the stored key was last tested and what the test said."""
    changes: dict[str, Any] = {
        "tested_at": _now_iso(),
        "test_valid": bool(valid),
        "test_message": message[:200],
    }
    if valid:
        changes["failing_since"] = None
    _update_status(tenant, provider, changes)


def tenant_mark_token_failing(*, tenant: Tenant, provider: str, reason: str) -> None:
    """The provider refused the stored key (401/403): show it as failing until it works."""
    entry = (tenant.llm_token_status or {}).get(provider) or {}
    changes: dict[str, Any] = {"failing_reason": reason[:200]}
    if not entry.get("failing_since"):
        changes["failing_since"] = _now_iso()
    _update_status(tenant, provider, changes)


def tenant_token_status(*, tenant: Tenant) -> dict[str, dict[str, Any]]:
    """What may be shown about each provider's key: never the key or part of it."""
    result = {}
    for provider in providers.provider_names():
        entry = (tenant.llm_token_status or {}).get(provider) or {}
        configured = bool((tenant.llm_tokens or {}).get(provider))
        result[provider] = {
            "configured": configured,
            "fingerprint": entry.get("fingerprint") if configured else None,
            "set_at": entry.get("set_at") if configured else None,
            "tested_at": entry.get("tested_at") if configured else None,
            "test_valid": entry.get("test_valid") if configured else None,
            "test_message": entry.get("test_message") if configured else None,
            "failing": bool(entry.get("failing_since")) if configured else False,
            "failing_since": entry.get("failing_since") if configured else None,
        }
    return result


def tenant_update_inference_config(
    *, tenant: Tenant, patch: Any, replace: bool = False
) -> inference_config.InferenceConfig:
    """Merge ``patch`` into the tenant's config (or replace it), validate, save.

    Raises InferenceConfigError with per-field messages; nothing is saved then.
    """
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        document = patch if replace else inference_config.merge(
            locked.config.to_json(), patch
        )
        parsed = inference_config.parse(document)
        locked.inference_config = parsed.to_json()
        locked.save(update_fields=["inference_config", "updated_at"])
    tenant.inference_config = locked.inference_config
    tenant.updated_at = locked.updated_at
    return parsed


# --- Tenant API keys --------------------------------------------------------------------------


def _hash_api_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def api_key_create(*, tenant: Tenant, name: str, created_by=None) -> tuple[TenantAPIKey, str]:
    """Create a key and return it with its plaintext, which is never retrievable again."""
    prefix = secrets.token_hex(6)
    raw = f"tk_{prefix}_{secrets.token_urlsafe(32)}"
    key = TenantAPIKey.objects.create(
        tenant=tenant, name=name, prefix=prefix, key_hash=_hash_api_key(raw), created_by=created_by
    )
    return key, raw


def api_key_authenticate(raw: str) -> TenantAPIKey | None:
    """The active key matching ``raw``, or None. Constant-time on the hash comparison."""
    parts = raw.split("_", 2) if isinstance(raw, str) else []
    if len(parts) != 3 or parts[0] != "tk" or not parts[1]:
        return None
    key = (
        TenantAPIKey.objects.select_related("tenant")
        .filter(prefix=parts[1], revoked_at__isnull=True, tenant__is_active=True)
        .first()
    )
    if key is None or not hmac.compare_digest(key.key_hash, _hash_api_key(raw)):
        return None
    TenantAPIKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key


def api_key_revoke(*, key: TenantAPIKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
