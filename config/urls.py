from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "LLM tenants"
admin.site.site_title = "LLM tenants admin"
admin.site.index_title = "Tenants, provider keys and usage"

urlpatterns = [
    path("api/", include("tenants.api.urls")),
    path("admin/", admin.site.urls),
]
