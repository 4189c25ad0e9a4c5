import datetime as dt
import io
import logging

import pytest
from django.core.management import CommandError, call_command

from llm_routing.stub.server import derive_good_key
from tenants import services
from tenants.models import Tenant
from tests.llm_routing.conftest import usage_rows


def test_llm_chat_prints_the_answer_and_the_attempts(make_tenant, stub_provider, capsys):
    make_tenant(slug="chat")
    stub_provider.enqueue("groq", 503)
    call_command("llm_chat", "hello there", tenant="chat")
    out = capsys.readouterr().out
    assert "Hello from the stub provider." in out
    assert "attempt 1: groq llama-3.3-70b-versatile -> error (HTTP 503" in out
    assert "attempt 2: openrouter deepseek/deepseek-r1 -> success" in out
    assert "answered by openrouter" in out


def test_llm_chat_shows_a_tiny_cost_with_its_significant_digits(
    make_tenant, stub_provider, capsys
):
    from usage.models import Price

    Price.objects.create(
        provider="groq", model="tiny-model", input_per_million="0.01",
        output_per_million="0.01", effective_from=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )
    make_tenant(slug="chat")
    call_command("llm_chat", "hello there", tenant="chat", model="tiny-model")
    out = capsys.readouterr().out
    # 2 prompt + 5 completion tokens at $0.01 per million: $0.00000007, not "$0.000000".
    assert "cost $0.00000007 (price_table)" in out


def test_llm_chat_reports_failure_as_a_command_error(make_tenant, stub_provider, capsys):
    make_tenant(slug="chat")
    stub_provider.configure("groq", status=400)
    with pytest.raises(CommandError, match="no other provider was tried"):
        call_command("llm_chat", "hello", tenant="chat")
    assert "invalid_request" in capsys.readouterr().out


def test_llm_chat_refuses_an_unknown_tenant_and_an_empty_prompt(db):
    with pytest.raises(CommandError, match="No tenant"):
        call_command("llm_chat", "hello", tenant="nobody")
    with pytest.raises(CommandError, match="empty"):
        call_command("llm_chat", "  ", tenant="nobody")


def test_seed_demo_with_stub_keys_lets_the_demo_tenant_chat_through_a_stub(
    db, stub_provider, settings, capsys
):
    settings.DEBUG = True
    call_command("seed_demo", "--with-stub-keys")
    output = capsys.readouterr().out
    assert "stub provider keys stored" in output
    demo = Tenant.objects.get(slug="demo")
    assert demo.configured_providers() == ["groq", "llm7", "openrouter"]
    assert services.tenant_provider_key(tenant=demo, provider="groq") == derive_good_key("groq")
    assert not any(derive_good_key(p) in output for p in ("groq", "openrouter", "llm7"))
    call_command("llm_chat", "hello", tenant="demo")
    assert "answered by groq" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_rundemo_routes_real_requests_through_the_stub_into_the_ledger(settings, capsys):
    settings.DEBUG = True  # as under `make run`: seed_demo refuses otherwise
    for name in ("GROQ_BASE_URL", "OPENROUTER_BASE_URL", "LLM7_BASE_URL"):
        setattr(settings, name, getattr(settings, name))  # restored after the test
    call_command("rundemo", no_serve=True)
    out = capsys.readouterr().out
    assert "admin login: username=admin password=" in out
    tenant = Tenant.objects.get(slug="demo")
    assert tenant.configured_providers() == ["groq", "llm7", "openrouter"]
    rows = usage_rows(tenant)
    statuses = {status for _, status, _ in rows}
    assert len(rows) >= 18 and {"success", "rate_limited", "error"} <= statuses
    assert "routed 18 requests (0 failed)" in out
    assert "127.0.0.1" in settings.GROQ_BASE_URL
    # A soft monthly budget: the usage screen shows its use, and it refused nothing.
    from usage import budgets
    from usage.models import Budget, BudgetWindow

    budgets.flush()
    assert Budget.objects.get(tenant=tenant).mode == "soft"
    window = BudgetWindow.objects.get(tenant_id=tenant.pk, period="month")
    assert window.spent_pusd > 0 and window.refused == 0


@pytest.mark.slow
def test_stub_provider_prints_lines_a_shell_can_run_with_the_keys_on_lines_of_their_own(
    tmp_path,
):
    import subprocess
    import sys

    from tests.processes import BASE_DIR

    server = subprocess.Popen(
        [sys.executable, "manage.py", "stub_provider", "--port", "0"],
        cwd=BASE_DIR, stdout=subprocess.PIPE, text=True,
    )
    try:
        lines = [server.stdout.readline().rstrip("\n") for _ in range(8)]
    finally:
        server.terminate()
        server.wait(30)
    exports = [line for line in lines if line.startswith("export ")]
    assert [line.split("=")[0] for line in exports] == [
        "export GROQ_BASE_URL", "export OPENROUTER_BASE_URL", "export LLM7_BASE_URL",
    ]
    assert all(line.startswith(("export ", "#")) for line in lines)
    keys = [derive_good_key(p) for p in ("groq", "openrouter", "llm7")]
    for key in keys:
        (holder,) = [line for line in lines if key in line]
        assert holder.split(":", 1)[1].strip() == key  # alone on its line, after a label
    pasted = subprocess.run(
        ["/bin/sh", "-c", "\n".join(lines) + '\necho "$OPENROUTER_BASE_URL"'],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )
    assert pasted.returncode == 0 and pasted.stderr == ""
    assert pasted.stdout.strip().startswith("http://127.0.0.1:")
    assert pasted.stdout.strip().endswith("/openrouter/v1")


def test_llm_chat_failures_show_each_attempt_once_and_end_with_one_line(
    make_tenant, stub_provider, capsys, caplog
):
    caplog.set_level(logging.INFO)
    make_tenant(slug="chat")
    for provider in ("groq", "openrouter", "llm7"):
        stub_provider.configure(provider, status=503)
    with pytest.raises(CommandError) as failure:
        call_command("llm_chat", "hello", tenant="chat")
    out = capsys.readouterr().out
    attempts = [line for line in out.splitlines() if line.startswith("  attempt ")]
    assert len(attempts) >= 3 and len(set(attempts)) == len(attempts)
    assert str(failure.value) == "Every provider failed. (attempts above)"
    assert not [r for r in caplog.records if r.name == "llm_routing.router"]  # no echo
    assert logging.getLogger("llm_routing.router").level == logging.NOTSET  # restored


def test_llm_chat_stream_prints_each_chunk_as_it_arrives_then_the_summary(
    make_tenant, stub_provider
):
    make_tenant(slug="chat")
    stub_provider.configure("groq", stream_chunk_delay=0.05)
    writes = []

    class Terminal(io.StringIO):
        def write(self, text):
            # Whether the stub had finished this stream when the text reached the terminal.
            writes.append((text, bool(stub_provider.streams("groq"))))
            return super().write(text)

    out = Terminal()
    call_command("llm_chat", "hello", tenant="chat", stream=True, stdout=out)
    chunks = [(text, ended) for text, ended in writes if text.strip() and "\n" not in text]
    assert "".join(text for text, _ in chunks) == "Hello from the stub provider."
    assert len(chunks) == 5 and not chunks[0][1]  # the first one before the stream ended
    lines = out.getvalue().splitlines()
    assert lines[0] == "Hello from the stub provider."
    assert lines[1].startswith("  attempt 1: groq llama-3.3-70b-versatile -> success")
    assert lines[2].startswith("answered by groq llama-3.3-70b-versatile in ")
    assert "(first token after " in lines[2] and ", 6 tokens, cost $" in lines[2]
    assert usage_rows(Tenant.objects.get(slug="chat")) == [("groq", "success", 1)]


def test_llm_chat_stream_that_breaks_after_content_says_so_once(make_tenant, stub_provider):
    make_tenant(slug="chat")
    stub_provider.configure("groq", stream_error_after=2)
    out = io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("llm_chat", "hello", tenant="chat", stream=True, stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Hello from "  # what arrived, on a line of its own
    assert len([line for line in lines if line.startswith("  attempt ")]) == 1
    assert str(failure.value).startswith("The stream from groq (llama-3.3-70b-versatile) "
                                         "failed after its content had started.")
