"""A canary key saved through the API and the admin is found nowhere it must not be.

Not in any table read with plain SQL (encrypted at rest), not in any API response or
admin page, not in any log record at DEBUG level, SQL logging included.
"""

import pytest
from django.db import connection
from django.test import Client

from llm_routing import providers
from tenants import services
from tests.tenants.helpers import assert_no_trace, form_data, make_key, put_json, url

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def sql_logged():
    """Log every SQL statement with its parameters, as DEBUG=True would."""
    connection.force_debug_cursor = True
    yield
    connection.force_debug_cursor = False


def every_row_as_text() -> str:
    """Every row of every table, read with plain SQL."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks.append(repr(cursor.fetchall()))
    return "\n".join(chunks)


def tenants_table_as_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM tenants")
        return repr(cursor.fetchall())


def assert_stored_without_trace(tenant, canaries, responses, logs) -> None:
    """Every canary is stored and readable, yet absent from rows, responses and logs."""
    tenant.refresh_from_db()
    for provider, canary in canaries.items():
        assert services.tenant_provider_key(tenant=tenant, provider=provider) == canary
    assert_no_trace(tenants_table_as_text(), canaries.values())
    assert_no_trace(every_row_as_text(), canaries.values())
    for response in responses:
        assert_no_trace(response.content.decode(), canaries.values())
    # The SQL log carries the key's fingerprint: proof that the writes were captured.
    assert tenant.llm_token_status["groq"]["fingerprint"] in logs.text
    assert_no_trace(logs.text, canaries.values())
    assert_no_trace(repr([(r.msg, r.args) for r in logs.records]), canaries.values())


def test_keys_saved_through_the_api_leave_no_trace(
    tenant_a, staff_a, api_key_for, all_logs, sql_logged
):
    canaries = {p: make_key(p) for p in providers.provider_names()}
    session = Client()
    session.force_login(staff_a)
    bearer = Client()
    headers = api_key_for(tenant_a)

    responses = [
        put_json(session, url(tenant_a, "llm-tokens"), {"groq": canaries["groq"]}),
        put_json(
            bearer,
            url(tenant_a, "llm-tokens"),
            {"openrouter": canaries["openrouter"], "llm7": canaries["llm7"]},
            **headers,
        ),
        # A rejected batch that carries a good canary beside a bad key.
        put_json(session, url(tenant_a, "llm-tokens"), {"llm7": canaries["llm7"], "groq": "x"}),
        session.get(url(tenant_a, "llm-tokens")),
        bearer.get(url(tenant_a, "llm-tokens"), **headers),
        session.get(url(tenant_a, "inference-config")),
    ]
    assert [r.status_code for r in responses] == [200, 200, 400, 200, 200, 200]

    assert_stored_without_trace(tenant_a, canaries, responses, all_logs)


def test_keys_saved_through_the_admin_leave_no_trace(
    superuser_client, tenant_a, all_logs, sql_logged
):
    canaries = {p: make_key(p) for p in providers.provider_names()}
    change = f"/admin/tenants/tenant/{tenant_a.pk}/change/"
    pages = []

    data = form_data(superuser_client.get(change).content.decode())
    # First a submission that fails on another field: the form comes back with errors.
    failing = {**data, "timezone": "Nowhere/Else"}
    failing.update({f"keys-key_{p}": key for p, key in canaries.items()})
    pages.append(superuser_client.post(change, failing))
    assert pages[-1].status_code == 200
    tenant_a.refresh_from_db()
    assert not tenant_a.llm_tokens

    succeeding = {**data, **{f"keys-key_{p}": key for p, key in canaries.items()}}
    pages.append(superuser_client.post(change, succeeding, follow=True))
    assert pages[-1].redirect_chain
    for page in (
        change,
        "/admin/tenants/tenant/",
        f"/admin/tenants/tenant/{tenant_a.pk}/history/",
        "/admin/",
    ):
        pages.append(superuser_client.get(page))
        assert pages[-1].status_code == 200

    assert_stored_without_trace(tenant_a, canaries, pages, all_logs)


# --- Error pages ----------------------------------------------------------------------------


def test_a_crash_in_the_admin_tenant_form_shows_no_key_on_the_debug_page(
    tenant_a, django_user_model, settings, monkeypatch
):
    from tenants import crypto

    settings.DEBUG = True
    client = Client(raise_request_exception=False)
    client.force_login(django_user_model.objects.create_superuser("boss", password="x"))
    canaries = {p: make_key(p) for p in providers.provider_names()}
    change = f"/admin/tenants/tenant/{tenant_a.pk}/change/"
    data = form_data(client.get(change).content.decode())

    def encrypt_token(**kwargs):
        raise RuntimeError("the encryption key store went away")

    monkeypatch.setattr(crypto, "encrypt_token", encrypt_token)
    response = client.post(change, {**data, **{f"keys-key_{p}": k for p, k in canaries.items()}})

    page = response.content.decode()
    assert response.status_code == 500
    assert "the encryption key store went away" in page
    assert response.wsgi_request.sensitive_post_parameters == "__ALL__"
    assert_no_trace(page, canaries.values())


def test_a_frame_nobody_marked_shows_no_handled_key_on_the_debug_page(rf, settings):
    """The last line of defence: an undecorated frame holding a key this process handled
    (any shape, here an all-lower-case one no shape rule catches) shows it redacted."""
    import sys

    from django.views.debug import technical_500_response

    settings.DEBUG = True
    key = "opaquelowercasellm7keythatlookslikewords"
    assert services.token_format_problem("llm7", key) is None  # handled: remembered

    def undecorated(api_key):
        headers = {"Authorization": f"Bearer {api_key}"}
        raise RuntimeError(f"failed with {len(headers)} headers")

    request = rf.post("/x", {"api_key": key})
    try:
        undecorated(key)
    except RuntimeError:
        page = technical_500_response(request, *sys.exc_info()).content.decode()
    assert "failed with 1 headers" in page and "undecorated" in page
    assert_no_trace(page, [key])
