"""A real server for the OpenAI-compatible endpoint: the README's production command
(uvicorn serving config.asgi) in its own process, on the test database, with the
providers pointed at the loopback stub."""

import socket
import subprocess
import sys
import time

import httpx
import pytest

from tenants import services
from tests.llm_routing.conftest import _routing_test_defaults, make_tenant  # noqa: F401
from tests.llm_routing.test_processes import database_url
from tests.processes import BASE_DIR, production_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(tmp_path, stub, settings, workers: int = 1, **extra_env):
    port = free_port()
    env = production_env(
        tmp_path,
        DATABASE_URL=extra_env.pop("DATABASE_URL", None) or database_url(),
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        GROQ_BASE_URL=stub.base_url("groq"),
        OPENROUTER_BASE_URL=stub.base_url("openrouter"),
        LLM7_BASE_URL=stub.base_url("llm7"),
        USAGE_SPILL_DIR=str(tmp_path / "spill"),
        LOG_LEVEL="WARNING",
        **extra_env,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning",
         "--no-access-log"],
        cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.stdout.read()[-3000:]}")
        try:
            httpx.get(url + "/v1/models", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the server did not start")


def stop_server(process) -> str:
    process.terminate()
    try:
        out, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out or ""


@pytest.fixture
def gateway(tmp_path, stub_provider, settings, transactional_db):
    process, url = start_server(tmp_path, stub_provider, settings)
    yield url
    output = stop_server(process)
    assert "Traceback" not in output, output[-3000:]


@pytest.fixture
def tenant_key(make_tenant):  # noqa: F811 - the fixture imported above
    """A tenant with the stub's keys and an API key for it: (tenant, raw key)."""

    def make(slug="acme", **config):
        tenant = make_tenant(slug=slug, **config)
        _, raw = services.api_key_create(tenant=tenant, name=f"{slug} service")
        return tenant, raw

    return make


