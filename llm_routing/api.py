"""The routing endpoints of the JSON API: key test and available models.

Views only parse, call ``llm_routing`` and render; authentication, tenant scoping, method
and body checks come from ``tenants.api.base.tenant_endpoint``.
"""

from __future__ import annotations

from django.views.decorators.debug import sensitive_variables

from llm_routing import keycheck, model_lists, providers, throttle
from tenants.api.base import ApiError, tenant_endpoint
from tenants.permissions import Action

_KEY_TEST_FIELDS = {"provider", "api_key"}


@tenant_endpoint({"POST": Action.TEST_KEYS}, json_body=True)
@sensitive_variables("payload", "api_key")
def llm_token_test(request, *, tenant, payload):
    decision = throttle.key_test(principal=request.api_principal, tenant_id=tenant.pk)
    if not decision.allowed:
        return throttle.refusal(decision)
    fields = {str(k)[:50]: "unknown field" for k in payload if k not in _KEY_TEST_FIELDS}
    provider = payload.get("provider")
    if not providers.is_known(provider):
        fields["provider"] = f"must be one of: {', '.join(providers.provider_names())}"
    api_key = payload.get("api_key")
    if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
        fields["api_key"] = "must be a non-empty string, or left out to test the stored key"
    if fields:
        raise ApiError(400, "invalid", "The request has invalid fields.", fields)
    if api_key is None:
        result = keycheck.test_stored_key(tenant=tenant, provider=provider)
    else:
        result = keycheck.test_key(provider=provider, api_key=api_key.strip())
    return result.to_json()


@tenant_endpoint({"GET": Action.VIEW_TENANT})
def available_models(request, *, tenant, payload):
    return {"tenant_id": str(tenant.pk), "providers": model_lists.available_models(tenant=tenant)}
