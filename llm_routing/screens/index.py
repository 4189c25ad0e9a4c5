"""The operator screens' landing page: the tenants this user administers, with their screens."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from llm_routing.screens.common import render_screen
from tenants import selectors
from tenants.forms import RefuseUnsafeText


class TenantSearchForm(RefuseUnsafeText, forms.Form):
    """The search box: a NUL (which PostgreSQL refuses in a query) is an error, not a 500."""

    q = forms.CharField(required=False)


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    tenants = selectors.tenants_for_user(request.user).order_by("name", "pk")
    search = TenantSearchForm(request.GET)
    query = search.cleaned_data["q"][:100] if search.is_valid() else ""
    for problem in search.errors.get("q", []):
        messages.error(request, f"Search: {problem}")
    if query:
        tenants = tenants.filter(name__icontains=query)
    page = Paginator(tenants.only("pk", "name", "slug", "is_active"), 50).get_page(
        request.GET.get("page")
    )
    return render_screen(
        request,
        "admin/screens/index.html",
        title="Operator screens",
        context={"page": page, "query": query},
    )
