"""Delivery of budget alerts: email to the members who asked, and a signed webhook POST.

``usage.budgets`` fires an alert by inserting a ``BudgetAlert`` row (once per window and
threshold); this module delivers the rows. It runs in two places: a background thread of
the process that fired the alert (``deliver_soon``: never on the routing path, never
holding it up, whatever a mail server or webhook does), and the ``send_budget_alerts``
cron job every minute, which catches whatever the first missed (a killed process, a
receiver that was down).

Exactly once
    Before sending, a deliverer claims the row with one conditional UPDATE (the attempt
    count it read, and a ``next_attempt_at`` that is due): of two deliverers, in threads or
    processes, one updates the row and the other finds it changed and skips it. The claim
    moves ``next_attempt_at`` past the longest a delivery can take (``claim_seconds``), so
    a deliverer killed mid-way leaves a claim that expires instead of a row nobody sends.
    Each channel's success is recorded on its own (``emailed_at``, ``webhook_at``): a retry
    sends only what has not gone out. (A process killed between a send and its record
    sends that channel again: at least once, never lost.)

Failures
    An error is recorded on the row (``email_error``, ``webhook_error``: what failed, never
    a secret), and the next attempt waits ``backoff(attempts)`` (1, 2, 4 ... 60 minutes) up
    to ``USAGE_BUDGET_ALERT_MAX_ATTEMPTS`` attempts. Alerts older than ``STALE_AFTER`` are
    not delivered any more (a webhook set today does not receive last month's alerts).

The webhook (docs/usage.md, "Verifying a webhook"): a JSON body, POSTed with
    ``X-Budget-Alert-Id``, ``X-Budget-Alert-Timestamp`` (Unix seconds) and
    ``X-Budget-Alert-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``.
    The URL is checked again before each send and the connection goes to an address that
    check resolved and allowed (``tenants.webhook_urls``); no redirects, no proxies from
    the environment, a total deadline of ``USAGE_BUDGET_WEBHOOK_TIMEOUT``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from tenants import crypto, webhook_urls
from tenants.models import AlertWebhook, Tenant, TenantMembership
from usage.models import Budget, BudgetAlert
from usage.money import format_usd, usd_from_pico

logger = logging.getLogger("usage.budget_alerts")

STALE_AFTER = timedelta(days=2)
BATCH = 200
SIGNATURE_HEADER = "X-Budget-Alert-Signature"
TIMESTAMP_HEADER = "X-Budget-Alert-Timestamp"
ID_HEADER = "X-Budget-Alert-Id"
USER_AGENT = "llm-platform-budget-alerts/1"
MAX_ANSWER_BYTES = 64 * 1024
NO_RECIPIENTS = "no member asked for budget alerts"


def max_attempts() -> int:
    return int(settings.USAGE_BUDGET_ALERT_MAX_ATTEMPTS)


def webhook_timeout() -> float:
    return float(settings.USAGE_BUDGET_WEBHOOK_TIMEOUT)


def claim_seconds() -> float:
    """How long a claim keeps others off a row: longer than one delivery can take."""
    return webhook_timeout() + float(getattr(settings, "EMAIL_TIMEOUT", None) or 60) + 60


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 1, 2, 4 ... at most 60 minutes."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


@dataclass
class Report:
    """What one ``deliver_pending`` did, for the command's one line."""

    delivered: int = 0
    emails: int = 0
    webhooks: int = 0
    failed: int = 0
    given_up: int = 0
    skipped: int = 0  # claimed by another deliverer first

    def __str__(self) -> str:
        return (
            f"send_budget_alerts: {self.delivered} delivered ({self.emails} emails, "
            f"{self.webhooks} webhooks), {self.failed} failed "
            f"({self.given_up} given up), {self.skipped} taken by another run"
        )


# --- what is pending ----------------------------------------------------------------------------


def _pending(now: datetime):
    active_hook = AlertWebhook.objects.filter(tenant_id=OuterRef("tenant_id"), is_active=True)
    return (
        BudgetAlert.objects.filter(fired_at__gte=now - STALE_AFTER)
        .filter(delivery_attempts__lt=max_attempts())
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .alias(has_hook=Exists(active_hook))
        .filter(Q(emailed_at__isnull=True) | Q(webhook_at__isnull=True, has_hook=True))
    )


def _claim(alert_id: int, attempts: int, now: datetime) -> bool:
    """Take the row for this deliverer: one conditional UPDATE, which at most one of any
    number of concurrent deliverers can win (the loser's WHERE no longer matches)."""
    return bool(
        BudgetAlert.objects.filter(pk=alert_id, delivery_attempts=attempts)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(
            delivery_attempts=attempts + 1,
            next_attempt_at=now + timedelta(seconds=claim_seconds()),
        )
    )


def deliver_pending(now: datetime | None = None) -> Report:
    """Deliver every alert that is due (not sent on some channel, under the attempt cap,
    its back-off over). Safe to run in any number of threads and processes at once."""
    now = now or timezone.now()
    report = Report()
    due = list(_pending(now).order_by("fired_at", "pk").values_list("pk", "delivery_attempts")[
        :BATCH
    ])
    for alert_id, attempts in due:
        if not _claim(alert_id, attempts, now):
            report.skipped += 1
            continue
        alert = BudgetAlert.objects.select_related("window").get(pk=alert_id)
        _deliver(alert, now, report)
    return report


# --- one alert ----------------------------------------------------------------------------------


def _deliver(alert: BudgetAlert, now: datetime, report: Report) -> None:
    tenant = Tenant.objects.get(pk=alert.tenant_id)
    ok = True
    if alert.emailed_at is None:
        error = _email(alert, tenant)
        if error is None:
            report.emails += 1
        ok = _record(alert, "email", error, now) and ok
    hook = AlertWebhook.objects.filter(tenant_id=alert.tenant_id, is_active=True).first()
    if alert.webhook_at is None and hook is not None:
        error = _post(alert, tenant, hook)
        if error is None:
            report.webhooks += 1
        ok = _record(alert, "webhook", error, now) and ok
    if ok:
        report.delivered += 1
        BudgetAlert.objects.filter(pk=alert.pk).update(next_attempt_at=None)
        return
    report.failed += 1
    if alert.delivery_attempts >= max_attempts():
        report.given_up += 1
        logger.warning("budget alert %s: delivery given up after %s attempts",
                       alert.pk, alert.delivery_attempts)
    BudgetAlert.objects.filter(pk=alert.pk).update(
        next_attempt_at=now + backoff(alert.delivery_attempts)
    )


def _record(alert: BudgetAlert, channel: str, error: str | None, now: datetime) -> bool:
    done, problem = ("emailed_at", "email_error") if channel == "email" else (
        "webhook_at", "webhook_error"
    )
    if error is None or error == NO_RECIPIENTS:
        BudgetAlert.objects.filter(pk=alert.pk, **{f"{done}__isnull": True}).update(
            **{done: now, problem: error or ""}
        )
        return True
    logger.warning("budget alert %s: %s delivery failed (%s)", alert.pk, channel, error)
    BudgetAlert.objects.filter(pk=alert.pk).update(**{problem: error[:200]})
    return False


def _what(alert: BudgetAlert, tenant: Tenant) -> dict[str, Any]:
    window = alert.window
    return {
        "tenant": tenant,
        "period": "daily" if window.period == Budget.Period.DAY else "monthly",
        "limit": usd_from_pico(alert.limit_pusd),
        "spent": usd_from_pico(alert.spent_pusd),
    }


def _email(alert: BudgetAlert, tenant: Tenant) -> str | None:
    """Send the alert to the members who asked; None when sent (or nobody asked), else
    the error in words."""
    recipients = sorted(
        {
            m.user.email
            for m in TenantMembership.objects.filter(
                tenant_id=tenant.pk, budget_alerts=True, user__is_active=True
            ).select_related("user")
            if m.user.email
        }
    )
    if not recipients:
        return NO_RECIPIENTS
    what = _what(alert, tenant)
    window = alert.window
    subject = (
        f"[{tenant.name}] {alert.threshold}% of the {what['period']} budget reached"
    )
    action = (
        "New requests are refused until the window resets."
        if alert.mode == Budget.Mode.HARD and alert.threshold >= 100
        else "Requests are still served."
    )
    body = (
        f"The {what['period']} budget of tenant {tenant.name} ({tenant.slug}) has reached "
        f"{alert.threshold}% of its limit: {format_usd(what['spent'])} spent of "
        f"{format_usd(what['limit'])} ({alert.get_mode_display()}).\n"
        f"{action}\n\n"
        f"Window: {window.starts_at:%Y-%m-%d %H:%M} UTC to {window.ends_at:%Y-%m-%d %H:%M} UTC "
        f"(the tenant's time zone is {tenant.timezone}).\n"
        f"Fired at {alert.fired_at:%Y-%m-%d %H:%M:%S} UTC.\n\n"
        "You get this mail because you asked for budget alerts on this tenant; turn them "
        "off on the tenant's usage screen in the admin.\n"
    )
    try:
        EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, recipients).send()
    except Exception as exc:  # noqa: BLE001 - any mail failure is recorded and retried
        return f"{type(exc).__name__}: {exc}"[:200]
    return None


# --- the webhook --------------------------------------------------------------------------------


def payload(alert: BudgetAlert, tenant: Tenant) -> dict[str, Any]:
    """The JSON the webhook receives (docs/usage.md lists its fields)."""
    window = alert.window
    return {
        "type": "budget.alert",
        "id": alert.pk,
        "tenant": {"id": str(tenant.pk), "slug": tenant.slug, "name": tenant.name},
        "period": window.period,
        "threshold_percent": alert.threshold,
        "mode": alert.mode,
        "limit_usd": f"{usd_from_pico(alert.limit_pusd):f}",
        "spent_usd": f"{usd_from_pico(alert.spent_pusd):f}",
        "window": {
            "starts_at": window.starts_at.isoformat(),
            "ends_at": window.ends_at.isoformat(),
            "time_zone": tenant.timezone,
        },
        "fired_at": alert.fired_at.isoformat(),
    }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``v1=`` and the hex HMAC-SHA256 of
    ``"<timestamp>.<body>"`` under the webhook's secret."""
    message = str(timestamp).encode("ascii") + b"." + body
    return "v1=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _post(alert: BudgetAlert, tenant: Tenant, hook: AlertWebhook) -> str | None:
    """POST the alert; None when the receiver answered 2xx, else the error in words."""
    try:
        target = webhook_urls.check(hook.url)
    except ValidationError as exc:
        return f"URL refused: {' '.join(exc.messages)}"
    try:
        secret = hook.plain_secret()
    except crypto.TokenDecryptionError:
        return "the signing secret cannot be decrypted; set it again"
    body = json.dumps(payload(alert, tenant), separators=(",", ":")).encode("utf-8")
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        ID_HEADER: str(alert.pk),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    return _send(target, headers, body)


def _verify() -> ssl.SSLContext | bool:
    """How a receiver's certificate is checked: against ``USAGE_BUDGET_WEBHOOK_CA_FILE``
    when set, else the public CAs; never not at all."""
    ca_file = settings.USAGE_BUDGET_WEBHOOK_CA_FILE
    return ssl.create_default_context(cafile=ca_file) if ca_file else True


def _send(target: webhook_urls.Target, headers: dict[str, str], body: bytes) -> str | None:
    """Send to the first checked address that accepts a connection, naming the host in the
    Host header, TLS SNI and certificate check; the whole exchange within the deadline."""
    deadline = time.monotonic() + webhook_timeout()
    try:
        verify = _verify()
    except (OSError, ssl.SSLError):
        return "USAGE_BUDGET_WEBHOOK_CA_FILE cannot be read as PEM certificates"
    error = "no address to connect to"
    for address in target.addresses:
        left = deadline - time.monotonic()
        if left <= 0:
            return "timed out"
        literal = f"[{address}]" if ":" in address else address
        url = f"{target.scheme}://{literal}:{target.port}{target.path}"
        named = f"[{target.host}]" if ":" in target.host else target.host
        default_port = 443 if target.scheme == "https" else 80
        host_header = named if target.port == default_port else f"{named}:{target.port}"
        try:
            with httpx.Client(
                timeout=httpx.Timeout(left), follow_redirects=False, trust_env=False,
                verify=verify,
            ) as client, client.stream(
                "POST", url, content=body, headers={**headers, "Host": host_header},
                extensions={"sni_hostname": target.host},
            ) as answer:
                read = 0
                for chunk in answer.iter_raw():
                    read += len(chunk)
                    if read > MAX_ANSWER_BYTES or time.monotonic() > deadline:
                        break
            if time.monotonic() > deadline:
                return "timed out"
            if 200 <= answer.status_code < 300:
                return None
            return f"the receiver answered HTTP {answer.status_code}"
        except httpx.TimeoutException:
            return "timed out"
        except httpx.ConnectError as exc:
            if isinstance(exc.__context__, ssl.SSLError) or "CERTIFICATE" in str(exc).upper():
                return "the receiver's TLS certificate was refused"
            error = f"cannot connect ({type(exc).__name__})"
            continue  # the next checked address
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}"
    return error


# --- in the background --------------------------------------------------------------------------

_wake = threading.Event()
_thread: threading.Thread | None = None
_start_lock = threading.Lock()


def _after_fork() -> None:
    global _thread, _start_lock
    _thread = None
    _start_lock = threading.Lock()
    _wake.clear()


os.register_at_fork(after_in_child=_after_fork)


def _loop() -> None:
    while True:
        _wake.wait()
        _wake.clear()
        try:
            deliver_pending()
        except Exception as exc:  # noqa: BLE001 - the cron job delivers what this missed
            logger.warning("budget alerts not delivered yet (%s); the cron job retries", exc)
        finally:
            connection.close()


def deliver_soon() -> None:
    """Deliver pending alerts in this process's alert thread (started on first use); never
    waits for it. Off (``USAGE_BUDGET_ALERTS_IN_BACKGROUND``): the cron job delivers."""
    global _thread
    if not settings.USAGE_BUDGET_ALERTS_IN_BACKGROUND:
        return
    if _thread is None or not _thread.is_alive():
        with _start_lock:
            if _thread is None or not _thread.is_alive():
                _thread = threading.Thread(target=_loop, name="budget-alerts", daemon=True)
                _thread.start()
    _wake.set()
