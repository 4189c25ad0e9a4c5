"""Helpers shared by the tenants tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from django.test import Client

from tenants.models import Tenant
from tests.canaries import assert_no_trace, key_traces  # noqa: F401  (used by the tests)
from tests.canaries import canary_key as make_key  # noqa: F401


def url(tenant_or_id, endpoint: str) -> str:
    tenant_id = getattr(tenant_or_id, "pk", tenant_or_id)
    return f"/api/tenants/{tenant_id}/{endpoint}"


def put_json(client: Client, path: str, body, **extra):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.put(path, data, content_type="application/json", **extra)


def row_of(tenant: Tenant) -> dict:
    """Every column of the tenant's row, as stored."""
    return Tenant.objects.filter(pk=tenant.pk).values().get()


class _FormParser(HTMLParser):
    """Collects what a browser would submit from the page's forms."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and "disabled" not in attrs:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.data[name] = attrs.get("value", "on")
            elif kind not in ("submit", "button", "file"):
                self.data[name] = attrs.get("value", "")
        elif tag == "select" and name:
            self._select, self._select_first = name, None
        elif tag == "option" and self._select:
            value = attrs.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in attrs:
                self.data[self._select] = value
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            self.data.setdefault(self._select, self._select_first or "")
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data


def form_data(html: str) -> dict[str, str]:
    """The fields a browser would post from ``html`` (all forms on the page, merged)."""
    parser = _FormParser()
    parser.feed(html)
    parser.data.pop("csrfmiddlewaretoken", None)
    return parser.data
