"""A WSGI/ASGI server (which runs no system checks) refuses to load the application with
DEBUG off and a missing or malformed FIELD_ENCRYPTION_KEYS or SECRET_KEY, and says how to
fix it; with good settings it loads. Real processes with a clean environment."""

import subprocess

import pytest

from tests.processes import production_env, run_python

pytestmark = pytest.mark.slow


def load(module: str, tmp_path, **overrides) -> subprocess.CompletedProcess:
    code = f"import {module}; print('loaded', {module}.application)"
    return run_python(production_env(tmp_path, **overrides), "-c", code)


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi"])
def test_the_application_loads_with_production_settings(module, tmp_path):
    result = load(module, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "loaded" in result.stdout


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi"])
@pytest.mark.parametrize("keys", ["", "not-a-fernet-key"])
def test_the_application_refuses_to_load_without_a_usable_key(module, keys, tmp_path):
    result = load(module, tmp_path, FIELD_ENCRYPTION_KEYS=keys)
    assert result.returncode != 0
    assert "loaded" not in result.stdout
    assert "tenants.E001" in result.stderr
    assert "generate_encryption_key" in result.stderr


def test_the_application_refuses_to_load_with_the_development_secret_key(tmp_path):
    result = load("config.wsgi", tmp_path, SECRET_KEY=None)  # falls back to the dev default
    assert result.returncode != 0
    assert "tenants.E002" in result.stderr
