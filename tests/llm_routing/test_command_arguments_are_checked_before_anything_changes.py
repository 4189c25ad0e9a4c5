import socket

import pytest
from django.core.management import CommandError, call_command

from tenants.models import Tenant


@pytest.fixture
def taken_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.django_db
@pytest.mark.parametrize("addrport", ["127.0.0.1:notaport", "127.0.0.1:70000", "nohost:"])
def test_rundemo_refuses_a_malformed_address_before_seeding(addrport):
    with pytest.raises(CommandError, match="port"):
        call_command("rundemo", "--addrport", addrport)
    assert not Tenant.objects.exists()


@pytest.mark.django_db
def test_rundemo_refuses_a_taken_port_before_seeding(taken_port):
    with pytest.raises(CommandError, match="cannot listen"):
        call_command("rundemo", "--addrport", f"127.0.0.1:{taken_port}")
    assert not Tenant.objects.exists()


def test_stub_provider_refuses_an_out_of_range_or_taken_port(taken_port):
    with pytest.raises(CommandError, match="from 0 to 65535"):
        call_command("stub_provider", "--port", "99999")
    with pytest.raises(CommandError, match="cannot listen"):
        call_command("stub_provider", "--port", str(taken_port))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--max-tokens", "0", "from 1"),
        ("--max-tokens", "-5", "from 1"),
        ("--max-tokens", "many", "whole number"),
        ("--temperature", "5", "from 0 to 2"),
        ("--temperature", "warm", "a number"),
    ],
)
def test_llm_chat_refuses_bad_options_before_calling_a_provider(
    make_tenant, stub_provider, option, value, message
):
    make_tenant(slug="chat")
    with pytest.raises(CommandError, match=message):
        call_command("llm_chat", "hello", "--tenant", "chat", option, value)
    assert stub_provider.chat_requests("groq") == 0
