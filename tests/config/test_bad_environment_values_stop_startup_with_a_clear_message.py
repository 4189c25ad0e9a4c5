"""A malformed environment value stops manage.py with one line naming the variable."""

import subprocess

import pytest

from tests.processes import manage, production_env

pytestmark = pytest.mark.slow


def manage_check(tmp_path, **env_values) -> subprocess.CompletedProcess:
    # DEBUG on: only the malformed value may stop the start, not a missing production key.
    env = production_env(tmp_path, DEBUG="true", **env_values)
    return manage(env, "check")


@pytest.mark.parametrize(
    "variable, value",
    [
        ("LLM_HTTP_CONNECT_TIMEOUT", "abc"),
        ("API_MAX_BODY_BYTES", "64k"),
        ("USAGE_BATCH_SIZE", "lots"),
        ("DB_PREPARE_THRESHOLD", "abc"),
        ("READINESS_TIMEOUT", "-1"),
        ("METRICS_ALLOW", "10.0.0.0/33"),
        ("PROMETHEUS_MULTIPROC_DIR", "/nonexistent/metrics-dir"),
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


@pytest.mark.parametrize("value, position", [
    ("not json", "line 1, column 1"),
    ('[{"name": "vllm",}]', "line 1, column 18"),
    ('[\n  {"name": "vllm"\n  "label": "x"}]', "line 3, column 3"),
])
def test_extra_providers_that_are_not_json_stop_with_e003_naming_the_position(
    tmp_path, value, position
):
    result = manage_check(tmp_path, LLM_EXTRA_PROVIDERS=value)
    assert result.returncode == 1
    assert "(tenants.E003) LLM_EXTRA_PROVIDERS is not usable: it is not valid JSON" in result.stderr
    assert position in result.stderr
    assert "Traceback" not in result.stderr
    assert value not in result.stderr
