"""``/healthz`` and ``/readyz`` (config/health.py): served by the real ASGI server before
Django and by Django's own URLs; readiness follows the database; nothing secret in them."""

import secrets
import time
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from django.db import connection

from config import health
from tests.canaries import assert_no_trace
from tests.gateway.conftest import start_server, stop_server
from tests.llm_routing.conftest import _routing_test_defaults, canary_tenant  # noqa: F401
from tests.llm_routing.test_processes import database_url
from tests.usage.tcp_proxy import TcpProxy

ALL_OK = {name: {"ok": True} for name in ("database", "migrations", "encryption", "tracker")}


def with_password(url: str, password: str, port: int | None = None) -> str:
    """The test database's URL with a password (ignored by a trust login) and a port."""
    parts = urlsplit(url)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{port or parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc))


def assert_no_secret(text: str, env: dict, keys) -> None:
    assert_no_trace(text, keys)
    for secret in [env["SECRET_KEY"], *env["FIELD_ENCRYPTION_KEYS"].split(",")]:
        assert_no_trace(text, [secret])
    assert "canary-db-password" not in text


@pytest.mark.django_db(transaction=True)
def test_both_endpoints_answer_json_over_asgi_with_no_secret_in_them(
    tmp_path, stub_provider, settings, canary_tenant  # noqa: F811 - imported above
):
    _, keys = canary_tenant
    database = database_url()
    if connection.vendor == "postgresql":
        database = with_password(database, "canary-db-password")
    env = {"SECRET_KEY": secrets.token_urlsafe(64),
           "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS)}
    process, url = start_server(
        tmp_path, stub_provider, settings, DATABASE_URL=database, SECRET_KEY=env["SECRET_KEY"]
    )
    try:
        # A probe's Host is no allowed host: the endpoints sit in front of Django.
        live = httpx.get(url + "/healthz", headers={"host": "10.0.0.7:8000"}, timeout=10)
        ready = httpx.get(url + "/readyz", headers={"host": "10.0.0.7:8000"}, timeout=10)
        head = httpx.head(url + "/readyz", timeout=10)
        post = httpx.post(url + "/readyz", timeout=10)
    finally:
        output = stop_server(process)
    assert "Traceback" not in output, output[-3000:]
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": ALL_OK}
    assert ready.headers["content-type"] == "application/json"
    assert (head.status_code, head.content) == (200, b"")
    assert post.status_code == 405
    for response in (live, ready, head, post):
        text = response.text + str(response.headers)
        assert_no_secret(text, env, keys.values())
        assert database not in text


def test_django_serves_the_same_answers_under_runserver_and_wsgi(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready", "checks": ALL_OK})
    assert response["Cache-Control"] == "no-store"
    assert client.post("/readyz").status_code == 405


def test_an_unusable_encryption_key_list_is_not_ready_and_is_not_shown(client, db, settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key-but-a-secret-all-the-same"]
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["encryption"] == {
        "ok": False, "reason": "FIELD_ENCRYPTION_KEYS is empty or malformed"
    }
    assert "secret-all-the-same" not in response.content.decode()


def test_a_spilling_tracker_is_not_ready(client, db, monkeypatch):
    import usage

    tracker = usage.get_tracker()
    monkeypatch.setattr(tracker, "_outage_since", time.monotonic())  # its writes fail
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["tracker"]["ok"] is False


def test_unapplied_migrations_are_not_ready_until_they_are_applied(client, db, monkeypatch):
    from django.db.migrations.recorder import MigrationRecorder

    monkeypatch.setattr(health, "_migrations_applied", False)
    newest = MigrationRecorder.Migration.objects.filter(app="usage").order_by("-id").first()
    newest.delete()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == {
        "ok": False, "reason": "1 migration(s) not applied"
    }
    MigrationRecorder.Migration.objects.create(app=newest.app, name=newest.name)
    assert client.get("/readyz").status_code == 200


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the fault is a TCP proxy cut in front of a database server (PostgreSQL only)",
)
@pytest.mark.django_db(transaction=True)
def test_readiness_follows_the_database_away_and_back(tmp_path, stub_provider, settings):
    parts = urlsplit(database_url())
    proxy = TcpProxy((parts.hostname, parts.port or 5432)).start()
    database = with_password(database_url(), "canary-db-password", port=proxy.port)
    process, url = start_server(tmp_path, stub_provider, settings, DATABASE_URL=database)
    try:
        assert httpx.get(url + "/readyz", timeout=10).status_code == 200

        proxy.cut()
        cut_at = time.monotonic()
        away = httpx.get(url + "/readyz", timeout=10)
        # The first poll after the cut already says so, and answers within the bound.
        assert away.status_code == 503, away.text
        assert time.monotonic() - cut_at < 1.0 + 2.0  # READINESS_TIMEOUT, generously
        assert away.json()["checks"]["database"]["ok"] is False
        assert httpx.get(url + "/healthz", timeout=10).status_code == 200  # still alive

        proxy.restore()
        deadline = time.monotonic() + 10
        back = away
        while back.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
            back = httpx.get(url + "/readyz", timeout=10)
        assert back.status_code == 200, back.text
        assert "canary-db-password" not in away.text + back.text
    finally:
        output = stop_server(process)
        proxy.stop()
    assert "Traceback" not in output, output[-3000:]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the fault is a TCP proxy black hole in front of a database server (PostgreSQL only)",
)
@pytest.mark.django_db(transaction=True)
def test_a_silent_database_is_not_ready_within_the_timeout_and_ready_once_it_answers(
    tmp_path, stub_provider, settings
):
    parts = urlsplit(database_url())
    proxy = TcpProxy((parts.hostname, parts.port or 5432)).start()
    database = with_password(database_url(), "canary-db-password", port=proxy.port)
    process, url = start_server(tmp_path, stub_provider, settings, DATABASE_URL=database,
                                READINESS_TIMEOUT="0.5", LLM_ROUTING_DB_TIMEOUT="1")
    try:
        assert httpx.get(url + "/readyz", timeout=10).status_code == 200
        before = proxy.accepted

        proxy.black_hole()  # the open link stays open, and nothing comes back
        polls = []
        for _ in range(6):
            started = time.monotonic()
            polls.append((httpx.get(url + "/readyz", timeout=10), time.monotonic() - started))
        assert all(response.status_code == 503 for response, _ in polls)
        assert all(took < 0.5 + 2.0 for _, took in polls)  # bounded, generously
        # One check runs at a time: the polls while it hangs open no connection storm.
        assert proxy.accepted - before <= 2, proxy.accepted - before

        proxy.restore()
        deadline = time.monotonic() + 15
        back = polls[-1][0]
        while back.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            back = httpx.get(url + "/readyz", timeout=10)
        assert back.status_code == 200, back.text
    finally:
        output = stop_server(process)
        proxy.stop()
    assert "Traceback" not in output, output[-3000:]
