"""Does a provider key work? One real call to the provider's cheapest key-checking
endpoint (OpenRouter's ``/key``, otherwise the models list). Saves nothing, except that
``test_stored_key`` records when a stored key was tested and what the test said."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.views.decorators.debug import sensitive_variables

from llm_routing import http_client, providers
from tenants import live_keys, selectors, services
from tenants.crypto import TokenDecryptionError


@dataclass(frozen=True)
class KeyTestResult:
    valid: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "message": self.message, "details": dict(self.details)}


def _number(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) else None


def _details(provider: providers.Provider, content: bytes) -> dict[str, Any]:
    """What the check's answer says, in our words (never the raw body: it may label keys)."""
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return {}
    if provider.key_check_path:
        info = data.get("data") if isinstance(data, dict) else None
        if not isinstance(info, dict):
            return {}
        return {
            "credit_limit": _number(info.get("limit")),
            "credit_remaining": _number(info.get("limit_remaining")),
            "usage": _number(info.get("usage")),
            "is_free_tier": info.get("is_free_tier") is True,
        }
    rows = data.get("data") if isinstance(data, dict) else data
    return {"models_visible": len(rows)} if isinstance(rows, list) else {}


@sensitive_variables()
def test_key(*, provider: str, api_key: str) -> KeyTestResult:
    """Check ``api_key`` against ``provider`` with one real call."""
    if not providers.is_known(provider):
        return KeyTestResult(False, f"Unknown provider {str(provider)[:40]!r}.")
    spec = providers.get_provider(provider)
    if problem := spec.key_problem(api_key):
        return KeyTestResult(False, f"Not a {spec.label} key: {problem}.")
    live_keys.remember(api_key)
    url = spec.base_url + (spec.key_check_path or spec.models_path)
    try:
        reply = http_client.request("GET", url, api_key=api_key)
    except http_client.TransportFailure as failure:
        return KeyTestResult(
            False, f"Could not reach {spec.label}: {failure.message}", {"reachable": False}
        )
    status = reply.status_code
    if status in (401, 403):
        return KeyTestResult(False, f"{spec.label} refused the key (HTTP {status}).", {})
    if status == 429:
        message = f"{spec.label} is rate limiting this key; test again later."
        return KeyTestResult(False, message, {"rate_limited": True})
    if not 200 <= status < 300:
        return KeyTestResult(False, f"{spec.label} answered HTTP {status}.", {})
    details = _details(spec, reply.content)
    message = f"{spec.label} accepted the key."
    if details.get("credit_remaining") is not None:
        message += f" Credit remaining: {details['credit_remaining']:.2f}."
    elif details.get("models_visible") is not None:
        message += f" {details['models_visible']} models visible."
    return KeyTestResult(True, message, details)


@sensitive_variables()
def test_stored_key(*, tenant: Any, provider: str) -> KeyTestResult:
    """Test the tenant's stored key for ``provider`` and record the result on the tenant."""
    tenant = selectors.resolve_tenant(tenant)
    if not providers.is_known(provider):
        return KeyTestResult(False, f"Unknown provider {str(provider)[:40]!r}.")
    try:
        api_key = services.tenant_provider_key(tenant=tenant, provider=provider)
    except TokenDecryptionError:
        result = KeyTestResult(False, "The stored key cannot be decrypted; store it again.")
    else:
        if api_key is None:
            return KeyTestResult(False, f"No {provider} key is stored for this tenant.")
        result = test_key(provider=provider, api_key=api_key)
    services.tenant_record_token_test(
        tenant=tenant, provider=provider, valid=result.valid, message=result.message
    )
    return result


# Not tests, whatever their names say: keep pytest from collecting them when imported.
test_key.__test__ = False  # type: ignore[attr-defined]
test_stored_key.__test__ = False  # type: ignore[attr-defined]
