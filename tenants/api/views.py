"""The tenant JSON API: provider keys and inference config. Parse, call a service, render."""

from __future__ import annotations

from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from tenants import effective_config, inference_config, services
from tenants.api.base import ApiError, tenant_endpoint
from tenants.models import Tenant
from tenants.permissions import Action


@tenant_endpoint({"GET": Action.VIEW_TENANT, "PUT": Action.CHANGE_KEYS}, json_body=True)
@sensitive_variables("payload")
def llm_tokens(request: HttpRequest, *, tenant: Tenant, payload) -> dict:
    """GET: what may be shown about each provider's key. PUT: set (string) or remove (null)."""
    if request.method == "PUT":
        try:
            changes = services.tenant_set_tokens(tenant=tenant, tokens=payload)
        except services.TokenValidationError as exc:
            raise ApiError(
                400, "invalid_tokens", "No key was saved: " + _names(exc.errors), exc.errors
            ) from None
        return {"changes": changes, "providers": services.tenant_token_status(tenant=tenant)}
    return {"providers": services.tenant_token_status(tenant=tenant)}


@tenant_endpoint({"GET": Action.VIEW_TENANT, "PUT": Action.CHANGE_CONFIG}, json_body=True)
def inference_config_view(request: HttpRequest, *, tenant: Tenant, payload) -> dict:
    """GET: the config routing will use, defaults filled in and listed in ``defaults``.
    PUT: merge a partial update (a GET answer sent back as it is changes nothing)."""
    if request.method == "PUT":
        try:
            patch = effective_config.without_defaults(payload, tenant.config)
            config = services.tenant_update_inference_config(tenant=tenant, patch=patch)
        except inference_config.InferenceConfigError as exc:
            raise ApiError(
                400, "invalid_config", "Nothing was saved: " + _names(exc.errors), exc.errors
            ) from None
        return effective_config.effective_json(config)
    return effective_config.effective_json(tenant.config)


def _names(errors: dict[str, str]) -> str:
    return "; ".join(f"{field or 'body'} {message}" for field, message in errors.items())
