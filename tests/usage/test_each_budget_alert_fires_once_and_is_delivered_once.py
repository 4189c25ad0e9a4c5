"""Issue 12, acceptance 3: each alert threshold fires exactly once per window, and each
alert is delivered once: an email to the members who asked for it (Django's test outbox)
and a signed POST to a real loopback receiver. Requests go through the real router to the
stub provider; spend is the configured estimate of a model without a price (0.01 USD a
call), against a hard monthly budget of 0.10 USD."""

from __future__ import annotations

import datetime as dt
import json
import threading
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

import llm_routing
from tenants import services
from tenants.models import AlertWebhook, Tenant, TenantMembership
from tenants.permissions import Role
from tests.canaries import assert_no_trace, canary_key
from tests.usage.alert_receiver import start_receiver
from tests.usage.conftest import wait_for
from usage import budget_alerts, budgets, pricing
from usage.models import Budget, BudgetAlert, Price

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec-test-0123456789abcdef0123456789abcdef"
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def receiver():
    found = start_receiver()
    yield found
    if found.hold is not None:
        found.hold.set()
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture
def setup(settings, stub_provider, routing_clock, catalogue_prices, django_user_model, receiver):
    """A tenant routed to the stub with a canary groq key; three members (two asked for
    alerts); a webhook at the receiver; a hard monthly budget of 0.10 USD; no prices."""
    settings.USAGE_TRACKER_SYNC = True
    settings.USAGE_BUDGET_UNPRICED_ESTIMATE_USD = 0.01
    settings.USAGE_BUDGET_WEBHOOK_ALLOW_HTTP = True
    settings.USAGE_BUDGET_WEBHOOK_ALLOW_PRIVATE = True
    Price.objects.all().delete()  # every call costs the estimate: 0.01 USD
    pricing.price_book.invalidate()
    budgets.forget()
    # Mid-month, so that the month's window is open and the next one is two weeks away.
    routing_clock.set(dt.datetime(2026, 11, 14, 12, tzinfo=dt.UTC))

    tenant = Tenant.objects.create(name="Acme", slug="acme")
    key = canary_key("groq")
    stub_provider.accept_key("groq", key)
    services.tenant_set_tokens(tenant=tenant, tokens={"groq": key})
    services.tenant_update_inference_config(
        tenant=tenant, patch={"preferred_provider": "groq", "auto_failover": False}
    )
    people = {}
    for name, role, wants in [
        ("olga", Role.OWNER, True), ("vic", Role.VIEWER, True), ("otto", Role.OPERATOR, False)
    ]:
        user = django_user_model.objects.create_user(
            name, email=f"{name}@example.com", password="x", is_staff=True
        )
        TenantMembership.objects.create(tenant=tenant, user=user, role=role, budget_alerts=wants)
        people[name] = user
    hook = AlertWebhook(tenant=tenant, url=receiver.url)
    hook.set_secret(SECRET)
    hook.save()
    Budget.objects.create(tenant=tenant, period="month", limit_usd=Decimal("0.10"), mode="hard")
    yield tenant, key
    budgets.forget()


def _route(tenant, n: int) -> None:
    for _ in range(n):
        llm_routing.complete(tenant=tenant, messages=MESSAGES)
    budgets.flush()


def _thresholds(tenant) -> list[tuple[int, int]]:
    return sorted(BudgetAlert.objects.filter(tenant=tenant).values_list("window_id", "threshold"))


@pytest.mark.parametrize("lease_seconds", [0, 0.5], ids=["no-leases", "leases"])
def test_each_threshold_fires_once_per_window_by_email_and_signed_webhook(
    setup, receiver, settings, lease_seconds
):
    tenant, key = setup
    settings.USAGE_BUDGET_LEASE_SECONDS = lease_seconds  # leases: spend written lazily
    _route(tenant, 4)
    assert _thresholds(tenant) == []  # 40%
    _route(tenant, 1)
    assert [t for _, t in _thresholds(tenant)] == [50]
    _route(tenant, 3)
    assert [t for _, t in _thresholds(tenant)] == [50, 80]
    _route(tenant, 2)  # 0.10: the limit
    with pytest.raises(llm_routing.BudgetExceeded):
        llm_routing.complete(tenant=tenant, messages=MESSAGES)
    budgets.flush()
    assert [t for _, t in _thresholds(tenant)] == [50, 80, 100]

    report = budget_alerts.deliver_pending()
    assert (report.delivered, report.emails, report.webhooks) == (3, 3, 3)
    assert budget_alerts.deliver_pending().delivered == 0  # nothing left: none sent twice

    assert len(mail.outbox) == 3
    for message, threshold in zip(
        sorted(mail.outbox, key=lambda m: m.subject), ["100%", "50%", "80%"], strict=True
    ):
        assert threshold in message.subject
        assert message.to == ["olga@example.com", "vic@example.com"]  # not otto
    assert len(receiver.posts) == 3
    payloads = receiver.verified(SECRET)
    assert sorted(p["threshold_percent"] for p in payloads) == [50, 80, 100]
    assert {p["tenant"]["slug"] for p in payloads} == {"acme"}
    assert {p["limit_usd"] for p in payloads} == {"0.1"}
    assert all(p["mode"] == "hard" and p["period"] == "month" for p in payloads)
    assert receiver.verified("another secret") == []
    assert {post.headers["x-budget-alert-id"] for post in receiver.posts} == {
        str(pk) for pk in BudgetAlert.objects.values_list("pk", flat=True)
    }
    everything = "".join(
        [m.subject + m.body for m in mail.outbox]
        + [json.dumps(dict(p.headers)) + p.body.decode() for p in receiver.posts]
    )
    assert_no_trace(everything, [key, SECRET])

    # The next month is a new window: the thresholds fire again, once each.
    first_window = {w for w, _ in _thresholds(tenant)}
    llm_routing.clock._source.set(dt.datetime(2026, 12, 1, 0, 30, tzinfo=dt.UTC))
    _route(tenant, 5)
    again = [(w, t) for w, t in _thresholds(tenant) if w not in first_window]
    assert [t for _, t in again] == [50]
    budget_alerts.deliver_pending()
    assert len(mail.outbox) == 4 and len(receiver.posts) == 4
    assert sorted(p["threshold_percent"] for p in receiver.verified(SECRET)) == [50, 50, 80, 100]


def test_two_deliverers_at_once_send_each_alert_once(setup, receiver):
    tenant, _ = setup
    _route(tenant, 10)
    assert BudgetAlert.objects.count() == 3
    receiver.hold = threading.Event()  # the first POST waits: the deliverers overlap
    reports = []
    threads = [
        threading.Thread(target=lambda: reports.append(budget_alerts.deliver_pending()))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    assert receiver.holding.wait(10)
    receiver.hold.set()
    for thread in threads:
        thread.join(30)
    assert sum(r.delivered for r in reports) == 3
    assert len(receiver.posts) == 3 and len(mail.outbox) == 3
    assert sorted(p["threshold_percent"] for p in receiver.verified(SECRET)) == [50, 80, 100]


def test_a_failing_webhook_is_recorded_and_retried_after_its_backoff(setup, receiver):
    tenant, _ = setup
    _route(tenant, 5)
    receiver.status = 500
    report = budget_alerts.deliver_pending()
    assert (report.failed, report.emails, report.webhooks) == (1, 1, 0)
    alert = BudgetAlert.objects.get()
    assert alert.emailed_at is not None and alert.webhook_at is None
    assert alert.webhook_error == "the receiver answered HTTP 500"
    assert alert.delivery_attempts == 1 and alert.next_attempt_at > timezone.now()

    assert budget_alerts.deliver_pending().failed == 0  # its back-off is not over
    assert len(receiver.posts) == 1

    receiver.status = 200
    later = alert.next_attempt_at + dt.timedelta(seconds=1)
    report = budget_alerts.deliver_pending(now=later)
    assert (report.delivered, report.emails, report.webhooks) == (1, 0, 1)
    alert.refresh_from_db()
    assert alert.webhook_at is not None and alert.delivery_attempts == 2
    assert len(mail.outbox) == 1  # the email went out once, the first time
    assert len(receiver.verified(SECRET)) == 2  # the failed POST, then the delivered one


def test_the_attempts_stop_at_the_cap(setup, receiver, settings):
    tenant, _ = setup
    settings.USAGE_BUDGET_ALERT_MAX_ATTEMPTS = 2
    _route(tenant, 5)
    receiver.status = 500
    now = timezone.now()
    for _ in range(4):
        budget_alerts.deliver_pending(now=now)
        now += dt.timedelta(hours=2)
    assert BudgetAlert.objects.get().delivery_attempts == 2
    assert len(receiver.posts) == 2


def test_a_hanging_webhook_never_holds_up_routing(setup, receiver, settings):
    tenant, _ = setup
    settings.USAGE_BUDGET_ALERTS_IN_BACKGROUND = True
    settings.USAGE_BUDGET_WEBHOOK_TIMEOUT = 0.5
    receiver.hold = threading.Event()  # answers only when the test lets it
    _route(tenant, 5)  # the 50% alert fires on the fifth call, in this thread
    # The calls returned while the receiver holds the alert's POST unanswered.
    assert receiver.holding.wait(20)
    assert not receiver.hold.is_set()
    _route(tenant, 1)
    wait_for(
        lambda: BudgetAlert.objects.filter(webhook_error="timed out").exists(),
        what="the hanging POST recorded as timed out",
    )
    alert = BudgetAlert.objects.get()
    assert alert.webhook_at is None and alert.emailed_at is not None
    receiver.hold.set()


def test_the_command_delivers_what_was_missed_and_says_so_in_one_line(setup, receiver, capsys):
    tenant, _ = setup
    _route(tenant, 8)
    call_command("send_budget_alerts")
    out = capsys.readouterr().out.strip()
    assert out.splitlines() == [out]
    assert "2 delivered (2 emails, 2 webhooks), 0 failed" in out
    call_command("send_budget_alerts")
    assert "0 delivered" in capsys.readouterr().out
    assert len(receiver.posts) == 2 and len(mail.outbox) == 2


def test_a_webhook_url_that_is_private_at_send_time_is_refused(setup, receiver, settings):
    tenant, _ = setup
    settings.USAGE_BUDGET_WEBHOOK_ALLOW_PRIVATE = False  # the URL was saved while allowed
    _route(tenant, 5)
    report = budget_alerts.deliver_pending()
    assert (report.failed, report.webhooks) == (1, 0)
    alert = BudgetAlert.objects.get()
    assert alert.webhook_error.startswith("URL refused: The host 127.0.0.1 resolves to")
    assert receiver.posts == []


def test_the_command_does_nothing_while_another_run_holds_its_lock(setup, receiver, capsys):
    from django.db import connection

    from usage.locks import command_lock

    tenant, _ = setup
    _route(tenant, 5)
    held, done = threading.Event(), threading.Event()

    def other_run():
        try:
            with command_lock("send_budget_alerts") as acquired:
                assert acquired
                held.set()
                done.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=other_run)
    thread.start()
    assert held.wait(10)
    call_command("send_budget_alerts")
    done.set()
    thread.join(10)
    assert "another run is delivering; nothing done" in capsys.readouterr().out
    assert receiver.posts == [] and mail.outbox == []
    call_command("send_budget_alerts")
    assert "1 delivered" in capsys.readouterr().out


@pytest.mark.parametrize("certificate_for", ["localhost", "someone-else.example"])
def test_an_https_webhook_is_verified_against_the_name_in_its_url(
    setup, settings, tmp_path, certificate_for
):
    """The sender connects to the address it checked but verifies the certificate (and
    sends SNI and Host) for the URL's name: a certificate for another name is refused."""
    import ssl

    from tests.usage.tls_certs import make_ca_and_server

    tenant, _ = setup
    ca_file, cert_file, key_file = make_ca_and_server(tmp_path, certificate_for)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    secure = start_receiver(tls=context)
    try:
        settings.USAGE_BUDGET_WEBHOOK_CA_FILE = str(ca_file)
        AlertWebhook.objects.filter(tenant=tenant).update(url=secure.url)
        _route(tenant, 5)
        report = budget_alerts.deliver_pending()
        alert = BudgetAlert.objects.get()
        if certificate_for == "localhost":
            assert report.webhooks == 1 and alert.webhook_at is not None
            assert [p["threshold_percent"] for p in secure.verified(SECRET)] == [50]
            assert secure.posts[0].headers["host"] == f"localhost:{secure.server.server_port}"
        else:
            assert report.webhooks == 0 and alert.webhook_at is None
            assert alert.webhook_error == "the receiver's TLS certificate was refused"
            assert secure.posts == []
    finally:
        secure.server.shutdown()
        secure.server.server_close()
