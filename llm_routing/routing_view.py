"""A tenant's routing view (config, which providers have keys, decrypted keys, budgets),
cached in the process and revalidated against ``Tenant.updated_at``.

Within ``LLM_ROUTING_VIEW_TTL`` seconds (default 2) a view is used as is; after that one
cheap query compares ``updated_at`` and reloads on a change. Saving a tenant's config or
keys (which bumps ``updated_at``) therefore reaches every process within the TTL, and this
process at once (the post_save receiver below).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from config import metrics
from llm_routing import providers
from tenants import selectors, services
from tenants.inference_config import InferenceConfig
from tenants.models import Tenant, parse_tenant_id
from usage.budgets import Rule as BudgetRule
from usage.budgets import rules_for as budget_rules
from usage.models import Budget


@dataclass
class RoutingView:
    tenant: Tenant
    config: InferenceConfig
    configured: frozenset[str]
    updated_at: object
    checked_at: float
    budgets: tuple[BudgetRule, ...] = ()
    _keys: dict[str, str] = field(default_factory=dict, repr=False)

    @sensitive_variables()
    def key_for(self, provider: str) -> str | None:
        """The plaintext key (decrypted once per view). May raise TokenDecryptionError."""
        cached = provider in self._keys
        metrics.cache("decrypted_key", cached)
        if not cached:
            key = services.tenant_provider_key(tenant=self.tenant, provider=provider)
            if key is None:
                return None
            self._keys[provider] = key
        return self._keys[provider]

    def __repr__(self) -> str:
        return f"RoutingView(tenant={self.tenant.pk}, configured={sorted(self.configured)})"


_lock = threading.Lock()
_views: dict[uuid.UUID, RoutingView] = {}
_refs: dict[str, tuple[uuid.UUID, float]] = {}


def _ttl() -> float:
    return float(getattr(settings, "LLM_ROUTING_VIEW_TTL", 2.0))


def _load(pk) -> RoutingView:
    tenant = Tenant.objects.get(pk=pk)
    view = RoutingView(
        tenant=tenant,
        config=tenant.config,
        configured=frozenset(p for p in tenant.configured_providers() if providers.is_known(p)),
        updated_at=tenant.updated_at,
        checked_at=time.monotonic(),
        budgets=budget_rules(tenant.pk),
    )
    with _lock:
        _views[tenant.pk] = view
    return view


def _pk_for(tenant) -> uuid.UUID:
    """The tenant's id: a Tenant's own, an id as given (never a slug lookup), or a slug's."""
    if isinstance(tenant, Tenant):
        return tenant.pk
    if (pk := parse_tenant_id(tenant)) is not None:
        return pk
    ref = str(tenant)
    found = _refs.get(ref)
    if found and time.monotonic() - found[1] < _ttl():
        return found[0]
    pk = selectors.resolve_tenant(tenant).pk
    _refs[ref] = (pk, time.monotonic())
    return pk


def routing_view(tenant) -> RoutingView:
    """The view for a Tenant, its id or its slug. Raises Tenant.DoesNotExist."""
    pk = _pk_for(tenant)
    view = _views.get(pk)
    metrics.cache("routing_view", view is not None)
    if view is None:
        return _load(pk)
    if (
        isinstance(tenant, Tenant) and tenant.updated_at and view.updated_at
        and tenant.updated_at > view.updated_at
    ):
        # The caller's Tenant is newer than the view (an older one, say held since before
        # a budget change moved ``updated_at``, must not reload the view on every call).
        return _load(pk)
    now = time.monotonic()
    if now - view.checked_at < _ttl():
        return view
    current = Tenant.objects.filter(pk=pk).values_list("updated_at", flat=True).first()
    if current is None:
        forget(pk)
        raise Tenant.DoesNotExist(f"No tenant {pk}.")
    if current != view.updated_at:
        return _load(pk)
    view.checked_at = now
    return view


def cached_view(tenant) -> RoutingView | None:
    """The view this process last loaded for a Tenant, its id or its slug, however old
    (for routing while the database is unreachable), or None. Never queries."""
    if isinstance(tenant, Tenant):
        return _views.get(tenant.pk)
    found = _refs.get(str(tenant))
    return _views.get(found[0]) if found else None


def forget(pk=None) -> None:
    """Drop the cached view of one tenant (or of all)."""
    with _lock:
        if pk is None:
            _views.clear()
            _refs.clear()
        else:
            _views.pop(pk, None)


@receiver(post_save, sender=Tenant)
def _tenant_saved(sender, instance: Tenant, **kwargs) -> None:
    forget(instance.pk)


@receiver(post_save, sender=Budget)
@receiver(post_delete, sender=Budget)
def _budget_changed(sender, instance: Budget, **kwargs) -> None:
    # Other processes revalidate views against the tenant's ``updated_at``: move it.
    Tenant.objects.filter(pk=instance.tenant_id).update(updated_at=timezone.now())
    forget(instance.tenant_id)
