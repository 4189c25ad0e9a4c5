"""Liveness and readiness: ``/healthz`` and ``/readyz``, JSON, no authentication.

- ``/healthz``: the process answers. No I/O; always 200 ``{"status": "ok"}``.
- ``/readyz``: 200 ``{"status": "ready", "checks": {...}}`` when every check passes, 503
  ``{"status": "not ready", ...}`` otherwise. Each check is ``{"ok": bool}`` plus, when it
  fails, a fixed ``reason`` (never a driver message, a key, a URL or a setting's value):
  - ``database``: ``SELECT 1`` through llm_routing.dbguard (a hung statement is cut after
    ``LLM_ROUTING_DB_TIMEOUT``; a broken connection is replaced on the next poll);
  - ``migrations``: none unapplied (once all are applied the answer is kept for the life of
    the process: the check costs nothing afterwards);
  - ``encryption``: ``FIELD_ENCRYPTION_KEYS`` (or the development key) is a usable list;
  - ``tracker``: this process's usage tracker is not spilling to disk (an outage).

The ASGI app (config/asgi.py) serves both before Django, so neither ALLOWED_HOSTS nor any
middleware stands in a probe's way; it runs the checks on one thread of their own, one
run at a time (concurrent polls share the run under way), and answers not ready when they
take longer than ``READINESS_TIMEOUT``. The Django views (config/urls.py) serve the same
answers under runserver or WSGI, running the checks in the request's thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse
from django.views.decorators.http import require_safe

import usage
from llm_routing.dbguard import StateUnavailable, guarded
from tenants import crypto

LIVE = {"status": "ok"}

_migrations_applied = False  # once True, for the life of the process


def _database() -> dict:
    try:
        with guarded("readiness check") as db, db.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except StateUnavailable as exc:
        return {"ok": False, "reason": "no answer in time" if exc.timed_out else "unreachable"}
    return {"ok": True}


def _migrations() -> dict:
    global _migrations_applied
    if not _migrations_applied:
        try:
            with guarded("readiness check: migrations") as db:
                executor = MigrationExecutor(db)
                plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except StateUnavailable:
            return {"ok": False, "reason": "unknown: the database is unreachable"}
        if plan:
            return {"ok": False, "reason": f"{len(plan)} migration(s) not applied"}
        _migrations_applied = True
    return {"ok": True}


def _encryption() -> dict:
    try:
        problems = crypto.key_list_problems(crypto.configured_keys())
    except OSError:  # the development key file cannot be read or written
        return {"ok": False, "reason": "the development key file is unreadable"}
    if problems:
        return {"ok": False, "reason": "FIELD_ENCRYPTION_KEYS is empty or malformed"}
    return {"ok": True}


def _tracker() -> dict:
    if usage.get_tracker().spilling:
        return {"ok": False, "reason": "usage records are spilling to disk"}
    return {"ok": True}


def readiness() -> tuple[int, dict]:
    """Run every check in this thread: (HTTP status, JSON body)."""
    database = _database()
    checks = {
        "database": database,
        "migrations": _migrations() if database["ok"] else {"ok": False, "reason": "unknown"},
        "encryption": _encryption(),
        "tracker": _tracker(),
    }
    ready = all(check["ok"] for check in checks.values())
    return (200 if ready else 503), {"status": "ready" if ready else "not ready",
                                     "checks": checks}


def _timed_out() -> tuple[int, dict]:
    reason = f"the checks took longer than {settings.READINESS_TIMEOUT:g} s"
    return 503, {"status": "not ready", "checks": {"database": {"ok": False, "reason": reason}}}


# --- the ASGI side ------------------------------------------------------------------------

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readiness")
_running: Future | None = None
_lock = threading.Lock()


def _checks_in_thread() -> tuple[int, dict]:
    try:
        return readiness()
    finally:
        # This thread is no request's: end its connection the way a request would.
        connections[DEFAULT_DB_ALIAS].close_if_unusable_or_obsolete()


def _run() -> Future:
    """The run under way, or a new one: polls never queue up behind a hung check."""
    global _running
    with _lock:
        if _running is None or _running.done():
            _running = _executor.submit(_checks_in_thread)
        return _running


async def app(scope, receive, send) -> None:
    """ASGI app for ``/healthz`` and ``/readyz`` (GET or HEAD)."""
    if scope["method"] not in ("GET", "HEAD"):
        status, data, extra = 405, {"error": "use GET"}, [(b"allow", b"GET, HEAD")]
    elif scope["path"] == "/healthz":
        (status, data), extra = (200, LIVE), []
    else:
        extra = []
        try:
            status, data = await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(_run())), settings.READINESS_TIMEOUT
            )
        except TimeoutError:
            status, data = _timed_out()
    body = json.dumps(data).encode()
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store"),
               (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body",
                "body": b"" if scope["method"] == "HEAD" else body})


PATHS = ("/healthz", "/readyz")


# --- the Django fallbacks (runserver, WSGI) -----------------------------------------------


def _response(status: int, data: dict) -> HttpResponse:
    response = HttpResponse(json.dumps(data), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def healthz_view(request) -> HttpResponse:
    return _response(200, LIVE)


@require_safe
def readyz_view(request) -> HttpResponse:
    return _response(*readiness())
