"""A malformed environment value stops manage.py with one line naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow


def manage_check(tmp_path, **env_values) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **env_values,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "variable, value",
    [
        ("LLM_HTTP_CONNECT_TIMEOUT", "abc"),
        ("API_MAX_BODY_BYTES", "64k"),
        ("LLM_EXTRA_PROVIDERS", "not json"),
        ("USAGE_BATCH_SIZE", "lots"),
        ("DB_PREPARE_THRESHOLD", "abc"),
    ],
)
def test_a_malformed_value_names_the_variable_without_a_traceback(tmp_path, variable, value):
    extra = {variable: value}
    if variable == "DB_PREPARE_THRESHOLD":  # read only for PostgreSQL
        extra["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/unused"
    result = manage_check(tmp_path, **extra)
    assert result.returncode == 2
    assert variable in result.stderr
    assert "Traceback" not in result.stderr
    assert value not in result.stderr  # a value may be a secret: never echoed


def test_well_formed_values_start_normally(tmp_path):
    result = manage_check(tmp_path, LLM_HTTP_CONNECT_TIMEOUT="2.5", API_MAX_BODY_BYTES="1024")
    assert result.returncode == 0, result.stderr
