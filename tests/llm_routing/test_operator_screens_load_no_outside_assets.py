"""Issue 5: the operator screens and their charts need no CDN and no Node build. Every
script, stylesheet and image a screen references is served by this project (a /static/
file that exists in the checkout), and nothing points at another origin."""

import re
import uuid

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

import usage

pytestmark = pytest.mark.django_db

# src="..." / href="..." / url(...) / @import in the rendered page.
REFERENCE = re.compile(
    r"""(?:src|href)\s*=\s*["']([^"']+)["']"""
    r"""|url\(\s*["']?([^"')]+)"""
    r"""|@import\s+["']([^"']+)"""
)


def _references(html: str) -> list[str]:
    return [next(g for g in match.groups() if g) for match in REFERENCE.finditer(html)]


@pytest.fixture
def screens(make_tenant, django_user_model, client):
    tenant = make_tenant()
    usage.track(tenant_id=tenant.pk, provider="groq", model="llama-3.3-70b-versatile",
                status="success", request_id=uuid.uuid4(), attempt=1, prompt_tokens=5,
                completion_tokens=7, latency_ms=120)
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    names = [("screens:keys", [tenant.pk]), ("screens:providers", [tenant.pk]),
             ("screens:usage", [tenant.pk]), ("screens:usage_all", []), ("screens:index", []),
             ("screens:operations", [])]
    pages = {}
    for name, args in names:
        response = client.get(reverse(name, args=args))
        assert response.status_code == 200, name
        pages[name] = response.content.decode()
    return pages


def test_no_screen_references_another_origin(screens):
    for name, html in screens.items():
        outside = [ref for ref in _references(html) if re.match(r"^(https?:)?//", ref)]
        assert not outside, f"{name} loads from another origin: {outside}"


def test_every_static_asset_a_screen_uses_ships_with_the_checkout(screens):
    used = set()
    for html in screens.values():
        used |= {ref.split("?")[0] for ref in _references(html) if ref.startswith("/static/")}
    # The charts are drawn by the project's own script: at least one script is local.
    assert any(ref.endswith(".js") for ref in used), used
    for ref in used:
        assert finders.find(ref.removeprefix("/static/")), f"{ref} is not in the checkout"


def test_the_usage_screen_draws_its_charts_from_data_in_the_page(screens):
    html = screens["screens:usage"]
    assert re.search(r'<script id="chart-[\w-]+" type="application/json">', html)
