"""Writes to tenants: provider keys, inference config, API keys. Views and commands call these."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from config import metrics, prepared
from llm_routing import providers
from tenants import crypto, inference_config, key_cache, live_keys
from tenants.models import Tenant, TenantAPIKey


class TokenValidationError(ValueError):
    """One or more submitted provider keys are unusable; ``errors`` maps provider -> message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@sensitive_variables()
def token_format_problem(provider: object, token: object) -> str | None:
    """Why ``token`` cannot be a key for ``provider`` (None when it can). Never echoes it.

    A well-formed key is remembered for redaction (``tenants.live_keys``) from here on.
    """
    if not providers.is_known(provider):
        return f"unknown provider; known: {', '.join(providers.provider_names())}"
    if not isinstance(token, str):
        return "must be a string (or null to remove the key)"
    spec = providers.get_provider(str(provider))
    if problem := spec.key_problem(token):
        return f"is not a valid {spec.label} key: {problem}"
    live_keys.remember(token)
    return None


def _now_iso() -> str:
    return timezone.now().isoformat()


@sensitive_variables()
def tenant_set_tokens(*, tenant: Tenant, tokens: dict[str, Any]) -> dict[str, str]:
    """Set, replace (a string) or remove (None) provider keys; untouched providers stay.

    Every key is validated before anything is written: one bad key and nothing changes
    (TokenValidationError maps each bad provider to a message that never quotes the key).
    Returns provider -> "set" | "removed" | "unchanged".
    """
    if not isinstance(tokens, dict):
        raise TokenValidationError({"": "must be an object of provider -> key"})
    errors: dict[str, str] = {}
    for provider, token in tokens.items():
        # null removes a key, but only a known provider's: a typo must not pass silently.
        removing = token is None and providers.is_known(provider)
        if not removing and (problem := token_format_problem(provider, token)):
            errors[str(provider)] = problem
    if errors:
        raise TokenValidationError(errors)
    if not tokens:
        return {}

    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        stored, status = dict(locked.llm_tokens or {}), dict(locked.llm_token_status or {})
        outcome: dict[str, str] = {}
        for provider, token in tokens.items():
            if token is None:
                outcome[provider] = "removed" if stored.pop(provider, None) else "unchanged"
                status.pop(provider, None)
                continue
            stored[provider] = crypto.encrypt_token(
                tenant_id=locked.pk, provider=provider, token=token
            )
            status[provider] = {"fingerprint": crypto.fingerprint(token), "set_at": _now_iso()}
            outcome[provider] = "set"
        if set(outcome.values()) != {"unchanged"}:
            locked.llm_tokens, locked.llm_token_status = stored, status
            # updated_at moves so that routers drop their cached view of this tenant.
            locked.save(update_fields=["llm_tokens", "llm_token_status", "updated_at"])
    tenant.llm_tokens, tenant.llm_token_status = locked.llm_tokens, locked.llm_token_status
    tenant.updated_at = locked.updated_at
    return outcome


@sensitive_variables()
def tenant_provider_key(*, tenant: Tenant, provider: str) -> str | None:
    """The plaintext key for one provider, or None when none is stored.

    Raises crypto.TokenDecryptionError when a stored key cannot be read, or cannot be used
    because it is no longer well formed: a broken key is never silently treated as "no
    key". Only the provider client should call this.
    """
    ciphertext = (tenant.llm_tokens or {}).get(provider)
    if not ciphertext:
        return None
    key = crypto.decrypt_token(tenant_id=tenant.pk, provider=provider, ciphertext=ciphertext)
    if not providers.is_known(provider) or providers.get_provider(provider).key_problem(key):
        # Stored before such keys were refused (e.g. with a no-break space): it can never
        # be sent, so callers treat it like an unreadable key (skip it, say "store it again").
        raise crypto.TokenDecryptionError(
            f"The stored {provider} key cannot be sent in an HTTP header; store it again."
        )
    return key


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
            "failing_reason": entry.get("failing_reason") if configured else None,
        }
    return result


def _stored_config_equals(tenant: Tenant, config: inference_config.InferenceConfig) -> bool:
    try:
        return inference_config.parse(tenant.inference_config) == config
    except inference_config.InferenceConfigError:
        return False


def tenant_update_inference_config(
    *, tenant: Tenant, patch: Any, replace: bool = False
) -> inference_config.InferenceConfig:
    """Merge ``patch`` into the tenant's config (or replace it), validate, save.

    Raises InferenceConfigError with per-field messages; nothing is saved then.
    """
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        document = patch if replace else inference_config.merge(locked.config.to_json(), patch)
        parsed = inference_config.parse(document)
        if not _stored_config_equals(locked, parsed):
            locked.inference_config = parsed.to_json()
            locked.save(update_fields=["inference_config", "updated_at"])
    tenant.inference_config = locked.inference_config
    tenant.updated_at = locked.updated_at
    return parsed


# --- Tenant API keys --------------------------------------------------------------------------


_LAST_USED_GRANULARITY = timedelta(minutes=1)
API_KEY_NAME_MAX_LENGTH = 100


def _hash_api_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def api_key_create(
    *, tenant: Tenant, name: str, created_by: Any = None
) -> tuple[TenantAPIKey, str]:
    """Create a key and return it with its plaintext, which is never retrievable again."""
    name = (name or "").strip()
    if not name or len(name) > API_KEY_NAME_MAX_LENGTH:
        raise ValueError(f"an API key needs a name of 1 to {API_KEY_NAME_MAX_LENGTH} characters")
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
    key.last_used_at = _note_use(key.pk, key.last_used_at)
    return key


@dataclass(frozen=True)
class ApiKeyIdentity:
    """Who a bearer key is, without loading its tenant (``api_key_identify``)."""

    pk: int
    tenant_id: object
    requests_per_minute: int | None


# The key and its tenant in one indexed read, on a cursor whose statement PostgreSQL
# prepares (config/prepared.py): parsing and planning this join cost more than running it.
_IDENTIFY = (
    f"SELECT k.id, k.tenant_id, k.key_hash, k.requests_per_minute, k.last_used_at"
    f" FROM {TenantAPIKey._meta.db_table} k JOIN {Tenant._meta.db_table} t"
    " ON t.id = k.tenant_id WHERE k.prefix = %s AND k.revoked_at IS NULL AND t.is_active"
)


def api_key_identify(raw: str) -> ApiKeyIdentity | None:
    """``api_key_authenticate`` for the OpenAI-compatible endpoint's hot path: the same
    checks (active key, active tenant, constant-time hash comparison, last use written at
    most once a minute), with no model built.

    A valid key is remembered in the process while PostgreSQL reports no key or tenant
    change (tenants/key_cache.py: a revoked key or a deactivated tenant is still refused
    at once in every process); otherwise one prepared statement reads it. The ORM query
    cost about 1.2 ms of CPU a request on the dev box and the prepared read a round trip
    of 0.25-0.35 ms: the gateway benchmark (bench/gateway_overhead.py, target 1.5 ms
    added at p50) needs neither."""
    parts = raw.split("_", 2) if isinstance(raw, str) else []
    if len(parts) != 3 or parts[0] != "tk" or not parts[1]:
        return None
    digest = _hash_api_key(raw)
    cache = key_cache.listener()
    entry, generation = cache.get(digest) if cache is not None else (None, None)
    if cache is not None:
        metrics.cache("api_key", entry is not None)
    if entry is not None:
        identity: ApiKeyIdentity = entry.value
        entry.last_used_at = _note_use(identity.pk, entry.last_used_at)
        return identity
    with prepared.cursor(connections[DEFAULT_DB_ALIAS]) as cursor:
        cursor.execute(_IDENTIFY, [parts[1]])
        found = cursor.fetchone()
    if found is None or not hmac.compare_digest(found[2], digest):
        return None
    pk, tenant_id, _, limit, last_used_at = found
    last_used_at = _note_use(pk, _db_datetime(last_used_at))
    tenant_id = tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(tenant_id)
    identity = ApiKeyIdentity(pk, tenant_id, limit)
    if cache is not None and generation is not None:
        cache.put(digest, generation, identity, last_used_at)
    return identity


def _note_use(pk: int, last_used_at: datetime | None) -> datetime:
    """Write a key's last use unless it was written within the last minute (a busy
    service must not turn reads into writes); the last use as now recorded."""
    now = timezone.now()
    if last_used_at is not None and now - last_used_at <= _LAST_USED_GRANULARITY:
        return last_used_at
    TenantAPIKey.objects.filter(pk=pk).update(last_used_at=now)
    return now


def _db_datetime(value: Any) -> datetime | None:
    """A datetime column read by a raw statement as an aware datetime: PostgreSQL gives
    one, SQLite the stored UTC text."""
    if value is None:
        return None
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if timezone.is_naive(moment) else moment


def api_key_revoke(*, key: TenantAPIKey) -> bool:
    """Revoke ``key`` from now on; True if it was active. Revoking twice changes nothing."""
    changed = TenantAPIKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    key_cache.forget()  # other processes hear it from PostgreSQL at commit
    key.refresh_from_db(fields=["revoked_at"])
    return bool(changed)
