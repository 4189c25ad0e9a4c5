"""`manage.py seed_demo` (part of `make run`): one demo tenant however often it runs, with
the documented default config, and an admin login whose printed password works."""

import io
import re

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from tenants import inference_config
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def _seed(*args) -> tuple[str, str]:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    text = out.getvalue()
    username, password = re.search(r"admin login: username=(\S+) password=(\S+)", text).groups()
    return username, password


def test_the_printed_login_opens_the_admin(client):
    username, password = _seed()
    user = authenticate(username=username, password=password)
    assert user is not None and user.is_staff and user.is_superuser
    assert client.login(username=username, password=password)
    assert client.get("/admin/tenants/tenant/").status_code == 200


def test_rerunning_keeps_one_demo_tenant_and_the_latest_printed_login_works():
    _seed()
    first = Tenant.objects.get(slug="demo")
    username, password = _seed()
    assert list(Tenant.objects.filter(slug="demo")) == [first]
    assert authenticate(username=username, password=password) is not None


def test_the_demo_tenant_has_the_documented_default_config():
    _seed()
    demo = Tenant.objects.get(slug="demo")
    # The literal default, not the code's own constant.
    assert demo.config.preferred_provider == "groq" and demo.config.auto_failover is True
    assert {p: demo.config.model_for(p) for p in ("groq", "openrouter", "llm7")} == {
        "groq": "llama-3.3-70b-versatile",
        "openrouter": "deepseek/deepseek-r1",
        "llm7": "gpt-4o-mini",
    }
    assert demo.inference_config == inference_config.default_config_json()
