"""Which models each provider offers a tenant: live from the provider (with the tenant's
key where one is stored, cached for ``LLM_MODELS_CACHE_SECONDS``), else the shipped
catalogue, always marked with its source and age."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.views.decorators.debug import sensitive_variables

from config import metrics
from llm_routing import catalogue, clock, http_client, providers
from tenants import selectors, services
from tenants.crypto import TokenDecryptionError

MAX_MODELS = 1000


def _int(value: Any) -> int | None:
    return value if type(value) is int and 0 < value < 10**9 else None


def _per_million(value: Any) -> float | None:
    try:
        price = Decimal(str(value)) * 1_000_000
    except (InvalidOperation, ValueError):
        return None
    return float(round(price, 6)) if price.is_finite() and price >= 0 else None


def _normalise(provider: str, row: Any) -> dict[str, Any] | None:
    """One model from any of the three list shapes, filled in from the catalogue."""
    if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not row["id"]:
        return None
    model_id = row["id"][:200]
    known = catalogue.lookup(provider, model_id) or {}
    top = row.get("top_provider") if isinstance(row.get("top_provider"), dict) else {}
    pricing = row.get("pricing") if isinstance(row.get("pricing"), dict) else None
    return {
        "id": model_id,
        "context_length": _int(row.get("context_length"))
        or _int(row.get("context_window"))
        or known.get("context_length"),
        "max_output": _int(row.get("max_completion_tokens"))
        or _int(top.get("max_completion_tokens"))
        or known.get("max_output"),
        "price_in_per_m": _per_million(pricing.get("prompt"))
        if pricing
        else known.get("price_in_per_m"),
        "price_out_per_m": _per_million(pricing.get("completion"))
        if pricing
        else known.get("price_out_per_m"),
        "speed": known.get("speed", "unknown"),
    }


@sensitive_variables()
def _fetch(spec: providers.Provider, api_key: str | None) -> list[dict[str, Any]]:
    """The provider's live list. Raises LookupError (with a key-free reason) on failure."""
    try:
        reply = http_client.request("GET", spec.base_url + spec.models_path, api_key=api_key)
    except http_client.TransportFailure as failure:
        raise LookupError(f"out of reach: {failure.message}") from None
    if reply.status_code != 200:
        raise LookupError(f"HTTP {reply.status_code}")
    try:
        data = json.loads(reply.content)
    except (ValueError, RecursionError):
        raise LookupError("the models list is not JSON") from None
    rows = data.get("data") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise LookupError("the models list has an unknown shape")
    models = [m for m in (_normalise(spec.name, r) for r in rows[:MAX_MODELS]) if m]
    return sorted(models, key=lambda m: m["id"])


def _catalogue_answer(provider: str, error: str | None) -> dict[str, Any]:
    now = clock.now()
    answer = {
        "source": "catalogue",
        "fetched_at": catalogue.AS_OF.isoformat(),
        "age_seconds": int((now - catalogue.AS_OF).total_seconds()),
        "models": catalogue.entries(provider),
    }
    if error:
        answer["error"] = error
    return answer


@sensitive_variables("api_key")
def _for_provider(tenant, spec: providers.Provider) -> dict[str, Any]:
    try:
        api_key = services.tenant_provider_key(tenant=tenant, provider=spec.name)
    except TokenDecryptionError:
        api_key = None
    if api_key is None and spec.models_need_key:
        return _catalogue_answer(spec.name, None)
    status = (tenant.llm_token_status or {}).get(spec.name) or {}
    scope = f"{tenant.pk}:{status.get('fingerprint', '')}" if api_key else "public"
    cache_key = f"llm_routing:models:{spec.name}:{scope}:{spec.base_url}"
    cached = cache.get(cache_key)
    metrics.cache("model_list", cached is not None)
    now = clock.now()
    if cached is None:
        try:
            models = _fetch(spec, api_key)
        except LookupError as problem:
            return _catalogue_answer(spec.name, f"live list unavailable ({problem})")
        cached = {"fetched_at": now, "models": models}
        cache.set(cache_key, cached, getattr(settings, "LLM_MODELS_CACHE_SECONDS", 600))
    return {
        "source": "live",
        "fetched_at": cached["fetched_at"].isoformat(),
        "age_seconds": max(int((now - cached["fetched_at"]).total_seconds()), 0),
        "models": cached["models"],
    }


def available_models(*, tenant: Any) -> dict[str, dict[str, Any]]:
    """provider -> {"source": "live"|"catalogue", "fetched_at", "age_seconds", "models"}."""
    tenant = selectors.resolve_tenant(tenant)
    return {spec.name: _for_provider(tenant, spec) for spec in providers.all_providers()}
