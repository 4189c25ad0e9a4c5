"""`manage.py seed_demo` (part of `make run`): one demo tenant however often it runs, with
the documented default config, and an admin login whose printed password works; never a
change to a user it did not create, and nothing at all with DEBUG off unless forced."""

import io
import re

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from tenants import inference_config
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _development(settings):
    settings.DEBUG = True  # what `make run` has; pytest-django turns it off


def _output(*args) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


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


def test_an_existing_admin_it_did_not_create_keeps_its_password_and_its_rights():
    own = User.objects.create_user("admin", email="ops@example.com", password="their-own-1")
    output = _output()
    own.refresh_from_db()
    assert own.check_password("their-own-1")
    assert not own.is_superuser and not own.is_staff
    assert "left unchanged" in output and "password=" not in output
    assert Tenant.objects.filter(slug="demo").exists()  # the demo tenant is still seeded


def test_a_chosen_password_does_not_reach_a_user_it_did_not_create():
    User.objects.create_user("ops", password="their-own-1")
    assert "left unchanged" in _output("--username", "ops", "--password", "chosen-by-me")
    assert User.objects.get(username="ops").check_password("their-own-1")


def test_with_debug_off_it_refuses_and_changes_nothing_unless_forced(settings):
    settings.DEBUG = False
    User.objects.create_user("admin", email="admin@seed-demo.invalid", password="kept-1")
    with pytest.raises(CommandError, match="DEBUG is off"):
        _output()
    assert not Tenant.objects.exists()
    assert User.objects.get(username="admin").check_password("kept-1")
    username, password = _seed("--force")
    assert authenticate(username=username, password=password) is not None

