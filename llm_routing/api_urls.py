from django.urls import path

from llm_routing import api

app_name = "llm_routing_api"
urlpatterns = [
    path("tenants/<uuid:tenant_id>/llm-tokens/test", api.llm_token_test, name="llm-token-test"),
    path(
        "tenants/<uuid:tenant_id>/available-models", api.available_models, name="available-models"
    ),
]
