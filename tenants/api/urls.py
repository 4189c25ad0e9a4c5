from django.urls import path

from tenants.api import views

app_name = "tenants_api"
urlpatterns = [
    path("tenants/<uuid:tenant_id>/llm-tokens", views.llm_tokens, name="llm-tokens"),
    path(
        "tenants/<uuid:tenant_id>/inference-config",
        views.inference_config_view,
        name="inference-config",
    ),
]
