from django.contrib import admin
from django.urls import include, path, re_path

from config import health
from config.metrics_http import metrics_view
from tenants.api.base import api_not_found

admin.site.site_header = "LLM tenants"
admin.site.site_title = "LLM tenants admin"
admin.site.index_title = "Tenants, provider keys and usage"

urlpatterns = [
    # Served by the ASGI app before Django (config/asgi.py); these serve runserver and WSGI.
    path("healthz", health.healthz_view, name="healthz"),
    path("readyz", health.readyz_view, name="readyz"),
    path("api/", include("tenants.api.urls")),
    path("api/", include("llm_routing.api_urls")),  # key test and available models
    # The operator screens sit inside the admin (its login, chrome and CSRF) but are plain
    # views, so they are matched before the admin's own catch-all patterns.
    path("admin/screens/", include("llm_routing.screens.urls")),
    path("admin/", admin.site.urls),
    # Under uvicorn config/asgi.py answers /metrics first; this serves runserver and WSGI.
    path("metrics", metrics_view),
]

# Keep this last: any other /api/ path (a malformed tenant id, a typo) gets the API's JSON
# 404 instead of an HTML page.
urlpatterns.append(re_path(r"^api/", api_not_found))
