"""Re-encrypt every stored provider key (and budget alert webhook secret) under the newest
FIELD_ENCRYPTION_KEYS entry.

Safe to interrupt and rerun: each tenant is one short transaction on its locked row, and
a ciphertext already under the newest key is left as it is, so a second run only finishes
what the first did not. A ciphertext no configured key can read is reported and kept,
never dropped: removing it would silently turn "broken key" into "no key".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from tenants import crypto
from tenants.models import AlertWebhook, Tenant


@dataclass
class RotationReport:
    tenants: int = 0
    reencrypted: int = 0
    already_current: int = 0
    unreadable: list[str] = field(default_factory=list)  # "<slug>/<provider>"


def _rotate_one(tenant_id, report: RotationReport, dry_run: bool) -> None:
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().filter(pk=tenant_id).first()
        if tenant is None:  # deleted since the id list was read
            return
        report.tenants += 1
        stored = dict(tenant.llm_tokens or {})
        changed = False
        for provider, ciphertext in sorted(stored.items()):
            if not ciphertext:
                continue
            if crypto.is_under_newest_key(ciphertext):
                report.already_current += 1
                continue
            try:
                stored[provider] = crypto.reencrypt_under_newest_key(ciphertext)
            except crypto.TokenDecryptionError:
                report.unreadable.append(f"{tenant.slug}/{provider}")
                continue
            report.reencrypted += 1
            changed = True
        if changed and not dry_run:
            tenant.llm_tokens = stored
            # updated_at moves so that cached copies of the old ciphertexts are dropped.
            tenant.save(update_fields=["llm_tokens", "updated_at"])
        _rotate_webhook_secret(tenant, report, dry_run)


def _rotate_webhook_secret(tenant: Tenant, report: RotationReport, dry_run: bool) -> None:
    """The tenant's webhook signing secret, like its keys (inside the same transaction)."""
    hook = AlertWebhook.objects.select_for_update().filter(tenant=tenant).first()
    if hook is None or not hook.secret:
        return
    if crypto.is_under_newest_key(hook.secret):
        report.already_current += 1
        return
    try:
        rotated = crypto.reencrypt_under_newest_key(hook.secret)
    except crypto.TokenDecryptionError:
        report.unreadable.append(f"{tenant.slug}/{AlertWebhook.SECRET_SLOT}")
        return
    report.reencrypted += 1
    if not dry_run:
        AlertWebhook.objects.filter(pk=hook.pk).update(secret=rotated)


def tokens_rotate(
    *,
    batch_size: int = 500,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RotationReport:
    """Rotate every tenant's keys; ``progress(done, total)`` is called after each batch."""
    report = RotationReport()
    total = Tenant.objects.count()
    done = 0
    last_id = None
    while True:
        batch = Tenant.objects.order_by("pk")
        if last_id is not None:
            batch = batch.filter(pk__gt=last_id)
        ids = list(batch.values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        for tenant_id in ids:
            _rotate_one(tenant_id, report, dry_run)
        done += len(ids)
        last_id = ids[-1]
        if progress:
            progress(done, max(total, done))
    return report
