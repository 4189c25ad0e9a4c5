"""tenants.E001 and ``check --deploy``, run as real manage.py processes with a clean env."""

import socket
import sqlite3
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings

from tenants import crypto
from tenants.checks import check_encryption_keys
from tests.processes import manage, production_env

pytestmark = pytest.mark.slow


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("keys", ["", "not-a-key", f"{Fernet.generate_key().decode()},short"])
@pytest.mark.parametrize("command", [("check",), ("migrate", "--noinput")])
def test_startup_fails_without_a_usable_key_and_says_how_to_make_one(tmp_path, keys, command):
    result = manage(production_env(tmp_path, FIELD_ENCRYPTION_KEYS=keys), *command)
    assert result.returncode != 0
    assert "tenants.E001" in result.stderr
    assert "generate_encryption_key" in result.stderr
    assert tables_in(tmp_path / "prod.sqlite3") == []  # nothing was migrated


def tables_in(path: Path) -> list[str]:
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT name FROM sqlite_master")]


def test_runserver_refuses_to_start_without_a_key(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = production_env(tmp_path, FIELD_ENCRYPTION_KEYS="")
    result = manage(env, "runserver", "--noreload", f"127.0.0.1:{port}", timeout=30)
    assert result.returncode != 0
    assert "tenants.E001" in result.stderr


def test_generate_encryption_key_works_when_the_key_is_missing(tmp_path):
    result = manage(production_env(tmp_path, FIELD_ENCRYPTION_KEYS=""), "generate_encryption_key")
    assert result.returncode == 0, result.stderr
    Fernet(result.stdout.strip().encode())  # a usable key
    keys = manage(production_env(tmp_path, FIELD_ENCRYPTION_KEYS=result.stdout.strip()), "check")
    assert keys.returncode == 0, keys.stderr


# --- The check function itself (in-process) ---------------------------------------------


def test_with_debug_on_an_empty_key_list_uses_the_dev_key_file(settings, tmp_path):
    settings.DEBUG = True
    settings.FIELD_ENCRYPTION_KEYS = []
    settings.FIELD_ENCRYPTION_DEV_KEY_FILE = tmp_path / "dev-key"
    assert check_encryption_keys(None) == []
    crypto.encrypt_token(tenant_id="t", provider="groq", token="x")
    assert (tmp_path / "dev-key").stat().st_mode & 0o777 == 0o600
    assert check_encryption_keys(None) == []
    (tmp_path / "dev-key").write_text("garbage")
    assert [e.id for e in check_encryption_keys(None)] == ["tenants.E001"]


def test_with_debug_on_a_malformed_configured_key_is_still_an_error(settings):
    settings.DEBUG = True
    settings.FIELD_ENCRYPTION_KEYS = ["nope"]
    errors = check_encryption_keys(None)
    assert [e.id for e in errors] == ["tenants.E001"]
    assert "entry 1" in errors[0].msg


@pytest.mark.parametrize("secret_key", ["", "short", django_settings.DEV_SECRET_KEY])
def test_startup_fails_with_a_missing_or_development_secret_key(tmp_path, secret_key):
    env = production_env(tmp_path, SECRET_KEY=secret_key or None)
    result = manage(env, "check")
    assert result.returncode != 0
    assert "tenants.E002" in result.stderr
