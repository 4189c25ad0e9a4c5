"""``GET /metrics``: the Prometheus text of config/metrics.py, for a scraper that sends
``Authorization: Bearer $METRICS_TOKEN`` or connects from an address in ``METRICS_ALLOW``.

Served by config/asgi.py in front of Django (``metrics_asgi``), and by a Django view
(``metrics_view``) for runserver and WSGI. No credentials while a token is configured: 401;
a wrong token, or an address not allowed: 403 (both JSON, saying nothing else). The output
holds counts, sums and bounded labels only, never a key, a token or request content.
"""

from __future__ import annotations

import hmac
import ipaddress
import json

from django.conf import settings
from django.http import HttpResponse

from config import metrics

_BEARER = "bearer "


def decide(authorization: str, client: str | None) -> int:
    """200 (serve), 401 (send a token) or 403 (refused) for a request's Authorization
    header and client address."""
    token = settings.METRICS_TOKEN
    sent = authorization[7:].strip() if authorization[:7].lower() == _BEARER else ""
    if token and sent and hmac.compare_digest(sent.encode(), token.encode()):
        return 200
    if client and settings.METRICS_ALLOW_NETWORKS:
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            address = None
        if address is not None and any(address in n for n in settings.METRICS_ALLOW_NETWORKS):
            return 200
    if token and not authorization:
        return 401
    return 403


_REFUSALS = {
    401: "Send 'Authorization: Bearer <METRICS_TOKEN>'.",
    403: "Not allowed: a wrong token, or an address outside METRICS_ALLOW.",
}


def _refusal(status: int) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = json.dumps({"error": _REFUSALS[status]}).encode()
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="metrics"'))
    return body, headers


async def metrics_asgi(scope, receive, send) -> None:
    from asgiref.sync import sync_to_async

    if scope["method"] not in ("GET", "HEAD"):
        status, body, headers = 405, b'{"error": "Use GET."}', [(b"content-type",
                                                                b"application/json")]
    else:
        authorization = ""
        for key, value in scope.get("headers", ()):
            if key == b"authorization":
                authorization = value.decode("latin-1")
        client = scope.get("client")
        status = decide(authorization, client[0] if client else None)
        if status == 200:
            # The tracker's counters and the multiprocess files: off the event loop.
            body = await sync_to_async(metrics.exposition, thread_sensitive=False)()
            headers = [(b"content-type", metrics.CONTENT_TYPE.encode())]
        else:
            body, headers = _refusal(status)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body",
                "body": b"" if scope["method"] == "HEAD" else body})


def metrics_view(request):
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(b'{"error": "Use GET."}', status=405,
                            content_type="application/json")
    status = decide(request.headers.get("Authorization", ""), request.META.get("REMOTE_ADDR"))
    if status != 200:
        body, headers = _refusal(status)
        response = HttpResponse(body, status=status, content_type="application/json")
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)
