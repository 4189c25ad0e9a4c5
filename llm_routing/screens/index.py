"""The operator screens' landing page: the tenants this user administers, with their screens."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from llm_routing.screens.common import render_screen
from tenants import selectors


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    tenants = selectors.tenants_for_user(request.user).order_by("name", "pk")
    query = request.GET.get("q", "").strip()[:100]
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
