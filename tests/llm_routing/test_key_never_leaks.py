"""A planted canary key must not show up anywhere: logs, errors, attempts, usage rows,
API responses, command output, also when the HTTP client itself raises."""

import json
import ssl

import httpcore
import pytest
from django.core.management import call_command

import llm_routing
from llm_routing import RoutingError, complete, http11, keycheck, stream
from tenants import services
from tenants.models import Tenant
from tests.canaries import ODD_PROVIDER, canary_keys, odd_provider_spec

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def canary_tenant_of_every_shape(db, stub_provider, settings):
    """A tenant holding a canary key of every shape: the built-ins and an odd extra one."""
    settings.LLM_EXTRA_PROVIDERS = [odd_provider_spec(stub_provider.base_url(ODD_PROVIDER))]
    keys = canary_keys("groq", "openrouter", "llm7", ODD_PROVIDER)
    tenant = Tenant.objects.create(name="Canary", slug="canary")
    services.tenant_set_tokens(tenant=tenant, tokens=keys)
    return tenant, keys


def assert_nowhere(keys, *texts):
    for key in keys.values():
        for text in texts:
            assert key not in text
            assert key[8:30] not in text  # not even a recognisable part


def usage_dump(tenant) -> str:
    from usage.models import ModelUsageStat

    return json.dumps(
        list(ModelUsageStat.objects.filter(tenant_id=tenant.pk).values()), default=str
    )


def routing_error_text(error: RoutingError) -> str:
    return " ".join([str(error), repr(error), error.reason, repr(error.attempts)])


def test_refused_canary_keys_stay_out_of_logs_errors_attempts_and_usage_rows(
    canary_tenant, all_logs, capsys
):
    tenant, keys = canary_tenant
    with pytest.raises(RoutingError) as caught:
        complete(tenant=tenant, messages=HI)
    assert [a.outcome for a in caught.value.attempts] == ["auth_error"] * 3
    tenant.refresh_from_db()
    out = capsys.readouterr()
    assert_nowhere(
        keys, all_logs.text, routing_error_text(caught.value), usage_dump(tenant),
        json.dumps(tenant.llm_token_status), out.out + out.err,
    )


def test_accepted_canary_keys_stay_out_of_results_and_logs(canary_tenant, stub_provider, all_logs):
    tenant, keys = canary_tenant
    for provider, key in keys.items():
        stub_provider.accept_key(provider, key)
    result = complete(tenant=tenant, messages=HI)
    assert result.provider == "groq"
    assert_nowhere(keys, repr(result), all_logs.text, usage_dump(tenant))


def test_a_provider_echoing_the_key_in_its_error_is_scrubbed(
    canary_tenant, stub_provider, all_logs
):
    tenant, keys = canary_tenant
    stub_provider.accept_key("groq", keys["groq"])
    stub_provider.enqueue("groq", 400, {}, {"error": {"message": f"bad key {keys['groq']} here"}})
    with pytest.raises(RoutingError) as caught:
        complete(tenant=tenant, messages=HI)
    assert "[redacted]" in caught.value.attempts[0].reason
    assert_nowhere(keys, routing_error_text(caught.value), all_logs.text, usage_dump(tenant))


def authorization(request: httpcore.Request) -> str:
    return next(v for k, v in request.headers if k.lower() == b"authorization").decode()


def raise_from_the_transport(monkeypatch, exception, async_exception) -> None:
    """Every provider call fails in the transport under both the sync path (http11's
    socket writes) and the async one (httpcore's pool) of llm_routing/http_client.py (the
    one HTTP seam), with the worst case: an exception whose message quotes the
    Authorization header."""

    def sending(self, data, timeout):
        line = next(h for h in data.split(b"\r\n") if h.lower().startswith(b"authorization:"))
        raise exception(f"failed with {line.decode()}")

    def pooled(self, request):
        raise async_exception(f"failed with {authorization(request)}")

    monkeypatch.setattr(http11.Connection, "send", sending)
    monkeypatch.setattr(httpcore.AsyncConnectionPool, "handle_async_request", pooled)


@pytest.mark.parametrize(
    "exception, async_exception",
    [(TimeoutError, httpcore.ReadTimeout), (ConnectionResetError, httpcore.ConnectError),
     (ssl.SSLError, httpcore.RemoteProtocolError), (OSError, httpcore.ProxyError)],
)
def test_http_client_exceptions_carrying_the_key_are_scrubbed(
    canary_tenant, all_logs, monkeypatch, exception, async_exception
):
    tenant, keys = canary_tenant
    raise_from_the_transport(monkeypatch, exception, async_exception)
    with pytest.raises(RoutingError) as caught:
        complete(tenant=tenant, messages=HI)
    error = caught.value
    # One attempt per provider; a dropped connection on the last one is tried once more.
    expected = 3 if exception is TimeoutError else 4
    assert len(error.attempts) == expected
    assert error.__cause__ is None and error.__context__ is None
    assert_nowhere(keys, routing_error_text(error), all_logs.text, usage_dump(tenant))


def test_key_test_results_never_carry_the_key(canary_tenant, monkeypatch, all_logs):
    tenant, keys = canary_tenant
    refused = keycheck.test_key(provider="groq", api_key=keys["groq"])
    stored = llm_routing.test_stored_key(tenant=tenant, provider="openrouter")

    raise_from_the_transport(monkeypatch, ConnectionResetError, httpcore.ConnectError)
    unreachable = keycheck.test_key(provider="groq", api_key=keys["groq"])
    assert not refused.valid and not stored.valid and not unreachable.valid
    assert unreachable.details == {"reachable": False}  # the failure came from the transport
    texts = [json.dumps(r.to_json()) for r in (refused, stored, unreachable)]
    tenant.refresh_from_db()
    assert_nowhere(keys, *texts, all_logs.text, json.dumps(tenant.llm_token_status))


def test_llm_chat_output_never_carries_the_key(canary_tenant, capsys, all_logs):
    tenant, keys = canary_tenant
    with pytest.raises(Exception) as caught:  # CommandError: every provider refused
        call_command("llm_chat", "hello", tenant="canary")
    out = capsys.readouterr()
    assert_nowhere(keys, out.out, out.err, str(caught.value), all_logs.text)


@pytest.mark.parametrize("call", ["complete", "stream"])
def test_a_provider_quoting_the_key_in_a_response_header_leaves_no_trace_in_debug_logs(
    canary_tenant_of_every_shape, stub_provider, all_logs, call
):
    tenant, keys = canary_tenant_of_every_shape
    for provider, key in keys.items():
        stub_provider.accept_key(provider, key)  # so the queued answer is the one sent
        challenge = f'Bearer error="invalid_token", token="{key}"'
        stub_provider.enqueue(provider, 401, {"WWW-Authenticate": challenge}, {"error": "no"})
    with pytest.raises(RoutingError) as caught:
        if call == "complete":  # http11: no trace of its own
            complete(tenant=tenant, messages=HI)
        else:
            with stream(tenant=tenant, messages=HI):
                pass
    assert {a.outcome for a in caught.value.attempts} == {"auth_error"}  # the 401s came
    if call == "stream":
        # httpcore's DEBUG trace quotes every response header: proof the header was logged.
        assert "invalid_token" in all_logs.text and "receive_response_headers" in all_logs.text
    assert_nowhere(keys, all_logs.text, repr([(r.msg, r.args) for r in all_logs.records]))


def test_a_provider_echoing_a_key_with_spaces_has_all_of_it_scrubbed():
    from llm_routing import outcomes
    from llm_routing.http_client import HttpReply

    # No key may hold a space any more, but scrubbing must not depend on that.
    secret = "legacy  key\twith   spaces-0123456789"
    body = json.dumps({"error": {"message": f"bad key:  {secret}  ok"}}).encode()
    with pytest.raises(outcomes.ProviderError) as caught:
        outcomes.classify_reply(HttpReply(401, {}, body), requested_model="m", secret=secret)
    assert "[redacted]" in caught.value.reason
    for part in ("legacy", "spaces-0123456789"):
        assert part not in caught.value.reason
