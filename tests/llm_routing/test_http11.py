"""The sync transport under http_client.request (llm_routing/http11.py) against servers
scripted byte by byte: keep-alive, the ways an answer can be framed, servers that close or
talk nonsense, TLS verification and forked children."""

import datetime as dt
import ipaddress
import os
import ssl
import threading

import pytest

from llm_routing import http11, http_client
from tests.llm_routing.local_http import OK, keep_alive, once

KEY = "sk-canary-" + "k" * 30


def get(server, **kwargs):
    return http_client.request("GET", server.url(), api_key=KEY, **kwargs)


def failure_of(server) -> http_client.TransportFailure:
    with pytest.raises(http_client.TransportFailure) as caught:
        get(server)
    failure = caught.value
    assert KEY not in failure.message and KEY not in repr(failure)
    assert failure.__context__ is None and failure.__cause__ is None
    return failure


def test_sequential_requests_share_one_connection(local_server):
    server = local_server(keep_alive(OK))
    replies = [get(server) for _ in range(3)]
    assert [(r.status_code, r.content) for r in replies] == [(200, b"ok")] * 3
    assert server.connections == 1 and len(server.requests) == 3


def test_the_request_is_the_one_httpx_sent_before(local_server):
    server = local_server(keep_alive(OK))
    http_client.request("POST", server.url("/v1/chat?x=1"), api_key=KEY, body={"a": "é"})
    assert server.requests == [
        b"POST /v1/chat?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
        b"User-Agent: llm-tenants-router/1\r\nAccept: application/json\r\n"
        b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
        b'Content-Length: 14\r\n\r\n{"a":"\\u00e9"}' % (server.port, KEY.encode())
    ]


def test_a_chunked_answer_is_read_whole_and_its_connection_kept(local_server):
    server = local_server(keep_alive(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    ))
    assert [get(server).content for _ in range(2)] == [b"hello world"] * 2
    assert server.connections == 1


def test_an_answer_without_a_length_ends_with_its_connection(local_server):
    server = local_server(once(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nto the end"))
    assert [get(server).content for _ in range(2)] == [b"to the end"] * 2
    assert server.connections == 2  # not kept: the end of the body closed it


def test_an_informational_answer_before_the_answer_is_skipped(local_server):
    server = local_server(keep_alive(b"HTTP/1.1 100 Continue\r\nX-A: 1\r\n\r\n" + OK))
    reply = get(server)
    assert (reply.status_code, reply.content) == (200, b"ok")
    assert reply.headers == {"content-length": "2"}  # the 100's header went with it


def test_an_answer_cut_short_is_a_transport_error(local_server):
    server = local_server(once(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"))
    assert failure_of(server).kind == "transport_error"


def test_a_garbage_answer_is_a_transport_error_without_the_key(local_server):
    server = local_server(keep_alive(b"SSH-2.0-OpenSSH Bearer " + KEY.encode() + b"\r\n\r\n"))
    failure = failure_of(server)
    assert failure.kind == "transport_error" and "malformed answer" in failure.message


def test_an_oversized_answer_is_refused_and_its_connection_dropped(local_server, settings):
    settings.LLM_HTTP_MAX_RESPONSE_BYTES = 100
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + b"x" * 500
    server = local_server(keep_alive(big))
    assert [failure_of(server).kind for _ in range(2)] == ["response_too_large"] * 2
    assert server.connections == 2


def answer_once_then_close(closed: threading.Event):
    """A server script: one answer, then the server closes the connection."""

    def serve(server, conn):
        once(OK)(server, conn)
        conn.close()
        closed.set()

    return serve


def test_an_idle_connection_the_server_closed_is_not_reused(local_server):
    closed = threading.Event()
    server = local_server(answer_once_then_close(closed))
    assert get(server).content == b"ok"
    assert closed.wait(5)
    assert get(server).content == b"ok"
    assert server.connections == 2


def test_a_kept_connection_closed_as_the_request_goes_is_replaced_once(local_server, monkeypatch):
    # The server's close comes after the quiet check (here: the check sees nothing).
    monkeypatch.setattr(http11.Connection, "readable", lambda self: False)
    closed = threading.Event()
    server = local_server(answer_once_then_close(closed))
    assert get(server).content == b"ok"
    assert closed.wait(5)
    assert get(server).content == b"ok"
    assert server.connections == 2 and len(server.requests) == 2


def test_a_new_connection_closed_without_an_answer_is_not_tried_again(local_server):
    server = local_server(once(None))
    failure = failure_of(server)
    assert failure.kind == "transport_error" and "without an answer" in failure.message
    assert server.connections == 1


def test_a_header_with_a_line_break_is_refused_before_sending(local_server):
    server = local_server(keep_alive(OK))
    with pytest.raises(http_client.TransportFailure) as caught:
        get(server, headers={"X-Note": "a\r\nX-Injected: 1"})
    assert caught.value.kind == "transport_error" and server.requests == []


# --- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    """(certificate, key) PEM files for localhost and 127.0.0.1, signed by themselves."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return str(folder / "cert.pem"), str(folder / "key.pem")


def tls_server(local_server, self_signed, names):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*self_signed)
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    return local_server(keep_alive(OK), tls=context)


def test_an_https_server_with_an_untrusted_certificate_is_refused(local_server, self_signed):
    server = tls_server(local_server, self_signed, [])
    with pytest.raises(http_client.TransportFailure) as caught:
        http_client.request("GET", server.url(scheme="https"), api_key=KEY)
    failure = caught.value
    assert failure.kind in ("connect_error", "transport_error")
    assert "CERTIFICATE_VERIFY_FAILED" in failure.message
    assert KEY not in failure.message and failure.__context__ is None
    assert server.requests == []


def test_an_https_server_with_a_trusted_certificate_answers_over_one_connection(
    local_server, self_signed, monkeypatch
):
    def trusting():
        context = ssl.create_default_context(cafile=self_signed[0])
        context.set_alpn_protocols(["http/1.1"])
        return context

    monkeypatch.setattr(http_client, "_ssl_context", trusting)
    http_client.reset_clients()
    names: list[str] = []
    server = tls_server(local_server, self_signed, names)
    url = server.url(scheme="https", host="localhost")
    replies = [http_client.request("GET", url, api_key=KEY) for _ in range(2)]
    assert [r.content for r in replies] == [b"ok", b"ok"]
    assert server.connections == 1 and names == ["localhost"]  # SNI sent
    assert server.requests[0].startswith(b"GET /v1/models HTTP/1.1\r\nHost: localhost:%d\r\n"
                                         % server.port)


# --- processes ------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_opens_a_connection_of_its_own(local_server):
    server = local_server(keep_alive(OK))
    assert get(server).content == b"ok"  # the parent keeps this connection
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        code = 1
        try:
            code = 0 if get(server).content == b"ok" else 2
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert get(server).content == b"ok"
    assert server.connections == 2  # the parent's (kept, reused) and the child's own
