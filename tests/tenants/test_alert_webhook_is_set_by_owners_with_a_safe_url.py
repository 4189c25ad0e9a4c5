"""Issue 12: the budget alert webhook is set by owners (and superusers); its URL must be
https on a public address (checked when saved, with a clear form error, and again at every
send); the signing secret is stored encrypted and never shown again."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from tenants import crypto, webhook_urls
from tenants.models import AlertWebhook
from tenants.permissions import Role
from tests.canaries import assert_no_trace

pytestmark = pytest.mark.django_db

ADD = "/admin/tenants/alertwebhook/add/"
SECRET = "S3cret-for-signing-0123456789-abcdefgh"


def _form(tenant, **overrides) -> dict:
    return {"tenant": str(tenant.pk), "url": "https://93.184.215.14/hook", "is_active": "on",
            "new_secret": SECRET, **overrides}


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://93.184.215.14/hook", "must start with https://"),
        ("http://93.184.215.14/hook", "must start with https://"),
        ("javascript:alert(1)", "must start with https://"),
        ("https://127.0.0.1/hook", "private, loopback, link-local or reserved"),
        ("https://localhost:8443/hook", "private, loopback, link-local or reserved"),
        ("https://10.1.2.3/hook", "private, loopback, link-local or reserved"),
        ("https://192.168.0.10/hook", "private, loopback, link-local or reserved"),
        ("https://169.254.169.254/latest/meta-data", "private, loopback, link-local or reserved"),
        ("https://[::1]/hook", "private, loopback, link-local or reserved"),
        ("https://[::ffff:10.0.0.1]/hook", "private, loopback, link-local or reserved"),
        ("https://0.0.0.0/hook", "private, loopback, link-local or reserved"),
        ("https://224.0.0.1/hook", "private, loopback, link-local or reserved"),
        ("https://user:pw@93.184.215.14/hook", "no user name or password"),
        ("https://93.184.215.14:99999/hook", "This is not a URL"),
        ("https:///hook", "names no host"),
        ("https://no-such-host.invalid/hook", "cannot be resolved"),
    ],
)
def test_an_unsafe_url_is_a_clear_form_error_and_saves_nothing(
    staff_of, tenant_a, client, url, message
):
    client.force_login(staff_of(tenant_a, role=Role.OWNER))
    answer = client.post(ADD, _form(tenant_a, url=url))
    assert answer.status_code == 200
    assert message in answer.content.decode()
    assert not AlertWebhook.objects.exists()


def test_settings_may_allow_http_and_private_addresses(settings):
    with pytest.raises(ValidationError):
        webhook_urls.check("http://127.0.0.1:8080/x")
    settings.USAGE_BUDGET_WEBHOOK_ALLOW_HTTP = True
    settings.USAGE_BUDGET_WEBHOOK_ALLOW_PRIVATE = True
    target = webhook_urls.check("http://127.0.0.1:8080/x?y=1")
    assert (target.host, target.port, target.path, target.addresses) == (
        "127.0.0.1", 8080, "/x?y=1", ("127.0.0.1",)
    )


def test_an_owner_sets_the_webhook_and_the_secret_is_never_shown_again(
    staff_of, tenant_a, client
):
    client.force_login(staff_of(tenant_a, role=Role.OWNER))
    answer = client.post(ADD, _form(tenant_a))
    assert answer.status_code == 302, answer.content[:3000]
    hook = AlertWebhook.objects.get()
    assert hook.url == "https://93.184.215.14/hook"
    assert SECRET not in hook.secret and hook.plain_secret() == SECRET
    assert hook.secret_fingerprint == crypto.fingerprint(SECRET)
    page = client.get(f"/admin/tenants/alertwebhook/{hook.pk}/change/").content.decode()
    assert hook.secret_fingerprint in page
    assert_no_trace(page, [SECRET])
    # Changing the URL keeps the secret when none is typed.
    answer = client.post(
        f"/admin/tenants/alertwebhook/{hook.pk}/change/",
        {"url": "https://93.184.215.15/other", "is_active": "on", "new_secret": ""},
    )
    assert answer.status_code == 302
    hook.refresh_from_db()
    assert hook.url == "https://93.184.215.15/other" and hook.plain_secret() == SECRET


def test_a_short_or_missing_secret_is_a_form_error(staff_of, tenant_a, client):
    client.force_login(staff_of(tenant_a, role=Role.OWNER))
    answer = client.post(ADD, _form(tenant_a, new_secret="short"))
    assert b"at least 32 characters" in answer.content
    answer = client.post(ADD, _form(tenant_a, new_secret=""))
    assert b"Give the secret" in answer.content
    assert not AlertWebhook.objects.exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_viewers_and_operators_cannot_set_the_webhook(staff_of, tenant_a, client, role):
    client.force_login(staff_of(tenant_a, role=role))
    assert client.post(ADD, _form(tenant_a)).status_code == 403
    hook = AlertWebhook(tenant=tenant_a, url="https://93.184.215.14/hook")
    hook.set_secret(SECRET)
    hook.save()
    url = f"/admin/tenants/alertwebhook/{hook.pk}/change/"
    assert client.get(url).status_code == 200  # seen, read-only
    assert client.post(url, {"url": "https://93.184.215.16/x"}).status_code == 403
    assert AlertWebhook.objects.get().url == "https://93.184.215.14/hook"


def test_another_tenants_webhook_is_404(staff_of, tenant_a, tenant_b, client):
    client.force_login(staff_of(tenant_a, role=Role.OWNER))
    hook = AlertWebhook(tenant=tenant_b, url="https://93.184.215.14/hook")
    hook.set_secret(SECRET)
    hook.save()
    assert client.get(f"/admin/tenants/alertwebhook/{hook.pk}/change/").status_code == 404
    assert client.get(f"/admin/tenants/alertwebhook/{hook.pk}/delete/").status_code == 404
    answer = client.post(ADD, _form(tenant_b))
    assert b"Select a valid choice" in answer.content
    assert AlertWebhook.objects.count() == 1


def test_the_rotate_command_reencrypts_the_webhook_secret(tenant_a, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    hook = AlertWebhook(tenant=tenant_a, url="https://93.184.215.14/hook")
    hook.set_secret(SECRET)
    hook.save()
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]
    call_command("rotate_encryption_key")
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]  # the old key gone
    hook.refresh_from_db()
    assert hook.plain_secret() == SECRET
