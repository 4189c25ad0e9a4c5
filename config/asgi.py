"""ASGI entry point: the OpenAI-compatible endpoint (``/v1/``, llm_routing/gateway) and the
health checks (``/healthz``, ``/readyz``, config/health.py) and Prometheus metrics
(``/metrics``, config/metrics_http.py) in front of Django (the admin,
the operator screens and the JSON API).

Serve it with uvicorn (README, "Serving"). With DEBUG on the admin's static files are
served too, so the development server of ``make run`` needs nothing else.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()

# Checks that manage.py runs for itself but a WSGI/ASGI server would skip.
from config.startup import refuse_to_start_misconfigured  # noqa: E402

refuse_to_start_misconfigured()

from django.conf import settings  # noqa: E402

from config import health  # noqa: E402
from config.metrics_http import metrics_asgi  # noqa: E402
from llm_routing.gateway.app import Gateway  # noqa: E402

if settings.DEBUG:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_application = ASGIStaticFilesHandler(django_application)
gateway = Gateway()


async def application(scope, receive, send):
    if scope["type"] == "lifespan":  # nothing to start or stop: say so, so servers go on
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http" and scope["path"].startswith("/v1/"):
        return await gateway(scope, receive, send)
    if scope["type"] == "http" and scope["path"] in health.PATHS:
        return await health.app(scope, receive, send)
    if scope["type"] == "http" and scope["path"] == "/metrics":
        return await metrics_asgi(scope, receive, send)
    return await django_application(scope, receive, send)
