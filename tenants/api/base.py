"""The JSON API's plumbing: authentication, tenant scoping, body parsing, one error shape.

Every tenant endpoint is a plain function ``view(request, *, tenant, payload)`` wrapped in
``tenant_endpoint``; the view only calls a service and returns a dict (or list, or an
HttpResponse). Anything a client can get wrong is answered here with a 4xx in the shape

    {"error": {"code": "...", "message": "...", "fields": {...}}}

so that no input reaches a view that the view would have to distrust.

Order of the checks, and why: authentication (401) comes first so that nothing about a
tenant leaks to anonymous callers; the tenant scope (404) comes before the method (405)
and the body so that a staff user of tenant A learns nothing about tenant B's endpoints,
not even which methods they take; the role (403, ``tenants.permissions``) comes before
CSRF and the body, so a request the caller may not make is refused before it is read.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables

from tenants import permissions, selectors, services
from tenants.permissions import Action

logger = logging.getLogger(__name__)

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_BEARER = "bearer "


class ApiError(Exception):
    """An answer for the client: raised anywhere below a view, rendered as the error shape."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields


def error_response(
    status: int, code: str, message: str, fields: dict[str, str] | None = None
) -> JsonResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = {str(k): str(v) for k, v in fields.items()}
    response = JsonResponse({"error": body}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Any path under /api/ that no endpoint matches (including a malformed tenant id)."""
    return error_response(404, "not_found", "No such endpoint or tenant.")


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, run by hand: returns the failure reason instead of a page."""

    def _reject(self, request, reason):
        return reason


def _csrf_failure(request: HttpRequest) -> str | None:
    check = _CsrfCheck(lambda req: None)
    check.process_request(request)
    # A callback without ``csrf_exempt`` so that the check really runs.
    return check.process_view(request, lambda req: None, (), {})


def _authenticate(request: HttpRequest):
    """(principal, api_key or None). Raises ApiError 401/403.

    A request that presents a bearer key is judged by that key alone: a bad key is a 401
    even when a valid session cookie rides along, so a service never acts as a person.
    """
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        if not header[: len(_BEARER)].lower() == _BEARER:
            raise ApiError(401, "not_authenticated", "Use 'Authorization: Bearer <API key>'.")
        api_key = services.api_key_authenticate(header[len(_BEARER) :].strip())
        if api_key is None:
            raise ApiError(401, "invalid_api_key", "The API key is unknown or revoked.")
        return permissions.principal_id(api_key), api_key
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        raise ApiError(
            401, "not_authenticated", "Log in as staff or send 'Authorization: Bearer <API key>'."
        )
    if not (user.is_active and user.is_staff):
        raise ApiError(403, "forbidden", "Only staff users may use this API.")
    return permissions.principal_id(user), None


def _tenant_for(request: HttpRequest, api_key, tenant_id):
    try:
        if api_key is not None:
            return selectors.get_tenant_for_api_key(api_key, tenant_id)
        return selectors.get_tenant_for_user(request.user, tenant_id)
    except Http404:
        raise ApiError(404, "not_found", "No such tenant.") from None


def _content_length(request: HttpRequest) -> int | None:
    raw = request.META.get("CONTENT_LENGTH") or ""
    if not raw:
        return None
    try:
        length = int(raw)
    except ValueError:
        raise ApiError(400, "bad_request", "The Content-Length header is not a number.") from None
    if length < 0:
        raise ApiError(400, "bad_request", "The Content-Length header is negative.")
    return length


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_json_body(request: HttpRequest) -> dict[str, Any]:
    """The request body as a JSON object, or ApiError 400/413/415."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    charset = (request.content_params or {}).get("charset", "utf-8")
    if charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise ApiError(415, "unsupported_media_type", "The body must be UTF-8 encoded JSON.")
    limit = settings.API_MAX_BODY_BYTES
    too_big = ApiError(413, "body_too_large", f"The body is larger than {limit} bytes.")
    length = _content_length(request)
    if length is not None and length > limit:
        raise too_big
    try:
        raw = request.body
    except RequestDataTooBig:
        raise too_big from None
    if len(raw) > limit:
        raise too_big
    return json_object(raw)


def json_object(raw: bytes) -> dict[str, Any]:
    """``raw`` decoded as one JSON object, or ApiError 400: the one JSON reader for bodies.

    Refuses what Python's json would accept but a client cannot mean: duplicate keys,
    NaN/Infinity, and nesting deep enough to exhaust the parser's recursion (a
    RecursionError would otherwise be a 500).
    """
    if not raw.strip():
        raise ApiError(400, "invalid_json", "The body is empty; send a JSON object.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_utf8", "The body is not valid UTF-8.") from None
    try:
        data = json.loads(
            text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as exc:
        # json's messages say where the problem is, never what the surrounding text was.
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)[:100]
        if isinstance(exc, RecursionError):
            detail = "nested too deeply"
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {detail}.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The body must be a JSON object.")
    return data


def _render(result: Any) -> HttpResponse:
    if isinstance(result, HttpResponse):
        return result
    response = JsonResponse(result, safe=False)
    response["Cache-Control"] = "no-store"
    return response


def tenant_endpoint(actions: Mapping[str, Action], json_body: bool = False) -> Callable:
    """Wrap ``view(request, *, tenant, payload)`` as an authenticated, tenant-scoped endpoint.

    ``actions`` maps each method the endpoint takes to the ``tenants.permissions`` action
    it performs (HEAD follows GET); a caller whose role lacks it gets 403 ``forbidden``.
    ``payload`` is the parsed JSON object for ``json_body=True`` on unsafe methods, else
    None. Sets ``request.api_principal`` ("user:<id>" or "apikey:<id>") and
    ``request.api_key`` (the TenantAPIKey or None). A bearer key is exempt from CSRF (a
    browser never sends one on its own); a session is not.
    """
    by_method = {method.upper(): Action(action) for method, action in actions.items()}
    if "GET" in by_method:
        by_method.setdefault("HEAD", by_method["GET"])
    allowed = tuple(by_method)

    def decorator(view: Callable) -> Callable:
        @csrf_exempt
        @functools.wraps(view)
        @sensitive_variables("payload")  # a key test or a key save carries keys
        def wrapper(request: HttpRequest, tenant_id, **kwargs) -> HttpResponse:
            try:
                principal, api_key = _authenticate(request)
                request.api_principal, request.api_key = principal, api_key
                tenant = _tenant_for(request, api_key, tenant_id)
                if request.method not in allowed:
                    response = error_response(
                        405, "method_not_allowed", f"Use one of: {', '.join(allowed)}."
                    )
                    response["Allow"] = ", ".join(allowed)
                    return response
                if not permissions.can(api_key or request.user, by_method[request.method], tenant):
                    raise ApiError(403, "forbidden", "Your role does not allow this.")
                unsafe = request.method not in _SAFE_METHODS
                if unsafe and api_key is None and (reason := _csrf_failure(request)):
                    raise ApiError(403, "csrf_failed", f"CSRF check failed: {reason}")
                payload = parse_json_body(request) if json_body and unsafe else None
                return _render(view(request, tenant=tenant, payload=payload, **kwargs))
            except ApiError as exc:
                return error_response(exc.status, exc.code, exc.message, exc.fields)
            except Http404:
                return error_response(404, "not_found", "Not found.")
            except PermissionDenied:
                return error_response(403, "forbidden", "You may not do this.")
            except Exception as exc:
                # Logged by type and place only: an exception's text might quote input.
                frame = exc.__traceback__
                while frame is not None and frame.tb_next is not None:
                    frame = frame.tb_next
                where = f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else "?"
                logger.error(
                    "API %s %s failed with %s at %s",
                    request.method,
                    view.__name__,
                    type(exc).__name__,
                    where,
                )
                return error_response(500, "internal_error", "Something went wrong on our side.")

        wrapper.actions = dict(by_method)  # for the role-by-URL test: every method has one
        return wrapper

    return decorator
