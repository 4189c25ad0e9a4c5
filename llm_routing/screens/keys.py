"""Key management for one tenant: status per provider, save, test in place, remove."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.dateparse import parse_datetime
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

import llm_routing
from llm_routing import providers, throttle
from llm_routing.screens.common import render_screen, tenant_for
from tenants import permissions, services
from tenants.api.base import ApiError, error_response, json_object
from tenants.forms import ProviderKeysForm
from tenants.permissions import Action

# A typed key is at most a few hundred bytes; anything far larger is not a key test.
_MAX_TEST_BODY = 8 * 1024


def _rows(form: ProviderKeysForm) -> list[dict]:
    # Removal has its own confirmation page, so the form's remove boxes are not shown.
    return [
        {"provider": provider, "status": _with_datetimes(status), "field": key_field}
        for provider, status, key_field, _remove in form.rows()
    ]


def _with_datetimes(entry: dict) -> dict:
    """The status entry with its ISO timestamps as datetimes, for the template's |date."""
    shown = dict(entry)
    for name in ("set_at", "tested_at", "failing_since"):
        shown[name] = parse_datetime(entry[name]) if entry.get(name) else None
    return shown


@sensitive_post_parameters()
@sensitive_variables("form", "typed")
@require_http_methods(["GET", "POST"])
def keys_page(request: HttpRequest, tenant_id) -> HttpResponse:
    """Every member sees the keys' status; saving needs ``CHANGE_KEYS``."""
    action = Action.CHANGE_KEYS if request.method == "POST" else Action.VIEW_TENANT
    tenant = tenant_for(request, tenant_id, action)
    form = ProviderKeysForm(
        request.POST if request.method == "POST" else None,
        status=services.tenant_token_status(tenant=tenant),
    )
    if request.method == "POST":
        # Only typed keys: removal goes through its confirmation page, never through Save.
        typed = {p: key for p, key in form.changes().items() if key} if form.is_valid() else {}
        if form.is_valid() and not typed:
            form.add_error(None, "Nothing to save: type a key for at least one provider.")
        elif form.is_valid():
            try:
                outcome = services.tenant_set_tokens(tenant=tenant, tokens=typed)
            except services.TokenValidationError as exc:
                for provider, problem in exc.errors.items():
                    field = f"key_{provider}"
                    form.add_error(field if field in form.fields else None, problem)
            else:
                status = services.tenant_token_status(tenant=tenant)
                for provider, change in outcome.items():
                    fingerprint = status[provider]["fingerprint"]
                    messages.success(
                        request,
                        f"{providers.get_provider(provider).label}: key {change}"
                        + (f" (fingerprint {fingerprint})." if fingerprint else "."),
                    )
                return redirect("screens:keys", tenant_id=tenant.pk)
        messages.error(request, "No key was saved. Fix the keys marked below.")
    return render_screen(
        request,
        "admin/screens/keys.html",
        title=f"Provider keys: {tenant.name}",
        tenant=tenant,
        active="screens:keys",
        context={"form": form, "rows": _rows(form)},
    )


@require_http_methods(["GET", "POST"])
def key_remove(request: HttpRequest, tenant_id, provider: str) -> HttpResponse:
    """A confirmation page (GET) and the removal itself (POST), like the admin's delete.
    Both need ``CHANGE_KEYS``: the page only asks to confirm what the role must allow."""
    tenant = tenant_for(request, tenant_id, Action.CHANGE_KEYS)
    if not providers.is_known(provider):
        raise Http404("No such provider.")
    info = providers.get_provider(provider)
    status = services.tenant_token_status(tenant=tenant)[provider]
    if request.method == "POST":
        outcome = services.tenant_set_tokens(tenant=tenant, tokens={provider: None})
        if outcome[provider] == "removed":
            messages.success(request, f"{info.label}: key removed.")
        else:
            messages.info(request, f"{info.label}: there was no key to remove.")
        return redirect("screens:keys", tenant_id=tenant.pk)
    return render_screen(
        request,
        "admin/screens/key_remove.html",
        title=f"Remove the {info.label} key of {tenant.name}?",
        tenant=tenant,
        active="screens:keys",
        context={"provider": info, "status": status},
    )


@sensitive_variables("payload", "key")
@require_POST
def key_test(request: HttpRequest, tenant_id) -> JsonResponse:
    """Check a typed key (or, when none is typed, the stored one) without saving it.

    Body: ``{"provider": "groq", "key": "..."}`` with ``key`` optional. Testing the stored
    key records the result on the tenant, so the status column shows it after a reload.
    Needs ``TEST_KEYS`` (403 otherwise) and counts against the key-test limit (429 with
    Retry-After past it; nothing is tested or recorded).
    """
    try:
        tenant = tenant_for(request, tenant_id, Action.TEST_KEYS)
    except PermissionDenied:
        return error_response(403, "forbidden", "Your role does not allow testing keys.")
    decision = throttle.key_test(
        principal=permissions.principal_id(request.user), tenant_id=tenant.pk
    )
    if not decision.allowed:
        return throttle.refusal(decision)
    payload, problem = _json_body(request)
    if problem:
        return error_response(400, "bad_request", problem)
    provider, key = payload.get("provider"), payload.get("key", "")
    if not providers.is_known(provider):
        return error_response(
            400, "invalid_provider", "Unknown provider.", {"provider": "unknown provider"}
        )
    # Only a missing, null or empty key means "test the stored one"; 0, false or [] is bad.
    key = "" if key is None else key
    if not isinstance(key, str):
        return error_response(400, "invalid_key", "The key must be text.", {"key": "not text"})
    key = key.strip()
    if key:
        # test_key checks the format first and calls the provider only with a likely key.
        result = llm_routing.test_key(provider=provider, api_key=key)
        source = "typed"
    else:
        if not services.tenant_token_status(tenant=tenant)[provider]["configured"]:
            return JsonResponse(
                _answer(tenant, provider, "none", False, "No key typed and none stored.")
            )
        result = llm_routing.test_stored_key(tenant=tenant, provider=provider)
        source = "stored"
    return JsonResponse(_answer(tenant, provider, source, result.valid, result.message))


def _answer(tenant, provider: str, source: str, valid: bool, message: str) -> dict:
    tenant.refresh_from_db(fields=["llm_tokens", "llm_token_status"])
    return {
        "provider": provider,
        "tested": source,
        "valid": bool(valid),
        "message": str(message),
        "status": services.tenant_token_status(tenant=tenant)[provider],
    }


def _json_body(request: HttpRequest) -> tuple[dict, str | None]:
    if request.content_type != "application/json":
        return {}, "Send the test as application/json."
    if len(request.body) > _MAX_TEST_BODY:
        return {}, "The request body is too large for a key test."
    try:
        return json_object(request.body), None
    except ApiError as problem:
        return {}, problem.message
