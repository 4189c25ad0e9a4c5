"""Shared set-up for the router benchmarks: a throwaway database, Django, the stub provider
running in its own process, and tenants holding the stub's good keys.

Not a benchmark itself. The database is ``var/bench-router.sqlite3`` (recreated) unless
DATABASE_URL is set, in which case that database is used as is (migrated first).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQLITE_FILE = ROOT / "var" / "bench-router.sqlite3"


def configure_environment(fresh: bool) -> None:
    """Environment for this process (and inherited by workers), before Django starts."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # DEBUG off: Django would otherwise keep every query in memory and skew the timings.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 50)
    os.environ["LOG_LEVEL"] = "WARNING"
    if "FIELD_ENCRYPTION_KEYS" not in os.environ:
        from cryptography.fernet import Fernet

        os.environ["FIELD_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    if "DATABASE_URL" not in os.environ:
        SQLITE_FILE.parent.mkdir(exist_ok=True)
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{SQLITE_FILE}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{SQLITE_FILE}"


def setup_django(migrate: bool) -> None:
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_stub() -> tuple[subprocess.Popen, int]:
    """The stub provider in its own process, so it does not share this one's GIL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "stub_provider", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        raise SystemExit("the stub provider did not start")
    for provider in ("groq", "openrouter", "llm7"):
        os.environ[f"{provider.upper()}_BASE_URL"] = f"http://127.0.0.1:{port}/{provider}/v1"
    return process, port


def configure_stub(port: int, provider: str, **behaviour) -> None:
    """Script the stub provider (fields of ``llm_routing.stub.server.Behaviour``)."""
    import httpx

    url = f"http://127.0.0.1:{port}/_stub/{provider}/configure"
    httpx.post(url, json=behaviour, timeout=10).raise_for_status()


def point_settings_at_stub(port: int) -> None:
    from django.conf import settings

    for provider in ("groq", "openrouter", "llm7"):
        setattr(settings, f"{provider.upper()}_BASE_URL", f"http://127.0.0.1:{port}/{provider}/v1")


def make_tenant(slug: str, **config):
    from llm_routing.stub.server import derive_good_key
    from tenants import services
    from tenants.models import Tenant

    tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": slug})
    services.tenant_set_tokens(
        tenant=tenant, tokens={p: derive_good_key(p) for p in ("groq", "openrouter", "llm7")}
    )
    services.tenant_update_inference_config(tenant=tenant, patch=config, replace=False)
    return tenant


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(int(round(fraction * (len(ordered) - 1))), len(ordered) - 1)
    return ordered[index]


def start_gateway(workers: int = 1) -> tuple[subprocess.Popen, str]:
    """The README's production server (uvicorn serving config.asgi) on this environment's
    database and stub; returns (process, base URL) once /v1/models answers."""
    import httpx

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning",
         "--no-access-log"],
        cwd=ROOT, env={**os.environ, "ALLOWED_HOSTS": "127.0.0.1"},
        stdout=subprocess.DEVNULL, stderr=None,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/v1/models", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the gateway did not start")


def api_key_for(tenant) -> str:
    from tenants import services

    return services.api_key_create(tenant=tenant, name="bench")[1]


def process_memory(pid: int) -> tuple[int, int]:
    """(resident bytes, threads) of a process and its children, from /proc."""
    import glob

    rss = threads = 0
    pids = [pid] + [int(p.split("/")[-2]) for p in glob.glob("/proc/*/stat")
                    if _parent(p) == pid]
    for one in pids:
        try:
            with open(f"/proc/{one}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Threads:"):
                        threads += int(line.split()[1])
        except OSError:
            continue
    return rss, threads


def _parent(stat_path: str) -> int | None:
    try:
        with open(stat_path) as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def run_against_stub(run, *args) -> None:
    """A fresh environment, the stub in its own process, Django migrated, then
    ``run(*args, stub_port)``; the stub is stopped whatever happens."""
    configure_environment(fresh=True)
    stub, port = start_stub()
    try:
        setup_django(migrate=True)
        run(*args, port)
    finally:
        stub.terminate()
        stub.wait(timeout=10)
