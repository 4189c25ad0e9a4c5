"""The operator screens, mounted under /admin/screens/ (see config/urls.py).

Every view goes through ``admin.site.admin_view``: staff login, CSRF protection and
no-cache headers exactly as on the admin's own pages.
"""

from django.contrib import admin
from django.urls import path

from llm_routing.screens import dashboard, index, keys, operations, selection

app_name = "screens"


def _screen(view):
    return admin.site.admin_view(view)


urlpatterns = [
    path("", _screen(index.index), name="index"),
    path("usage/", _screen(dashboard.all_tenants_usage), name="usage_all"),
    path("operations/", _screen(operations.operations), name="operations"),
    path("tenants/<uuid:tenant_id>/keys/", _screen(keys.keys_page), name="keys"),
    path("tenants/<uuid:tenant_id>/keys/test", _screen(keys.key_test), name="key_test"),
    path(
        "tenants/<uuid:tenant_id>/keys/<str:provider>/remove/",
        _screen(keys.key_remove),
        name="key_remove",
    ),
    path(
        "tenants/<uuid:tenant_id>/providers/",
        _screen(selection.providers_page),
        name="providers",
    ),
    path("tenants/<uuid:tenant_id>/usage/", _screen(dashboard.tenant_usage), name="usage"),
    path(
        "tenants/<uuid:tenant_id>/usage/budget-alert-email",
        _screen(dashboard.budget_alert_email),
        name="budget_alert_email",
    ),
]
