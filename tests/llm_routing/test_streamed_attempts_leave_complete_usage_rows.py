"""A streamed attempt's usage row: its time to first token, the status cancelled when the
caller leaves, and counts marked as estimates (never 0) when the provider sent none."""

import pytest

from llm_routing import StreamError, complete, stream
from usage.models import ModelUsageStat

HI = [{"role": "user", "content": "hi"}]


def _rows(tenant) -> list[ModelUsageStat]:
    return list(ModelUsageStat.objects.filter(tenant_id=tenant.pk).order_by("attempt"))


def test_a_stream_records_its_time_to_first_token_and_the_reported_counts(
    make_tenant, stub_provider
):
    tenant = make_tenant(preferred_provider="groq")
    with stream(tenant=tenant, messages=HI) as s:
        list(s)
    [row] = _rows(tenant)
    assert row.ttft_ms == s.result.ttft_ms is not None
    assert row.ttft_ms <= row.latency_ms
    assert (row.prompt_tokens, row.completion_tokens) == (1, 5)  # the stub's figures
    assert row.tokens_estimated is False


def test_an_answer_read_whole_has_no_time_to_first_token(make_tenant, stub_provider):
    tenant = make_tenant(preferred_provider="groq")
    complete(tenant=tenant, messages=HI)
    [row] = _rows(tenant)
    assert row.ttft_ms is None and row.tokens_estimated is False


def test_a_failed_attempt_before_content_has_no_time_to_first_token(
    make_tenant, stub_provider
):
    stub_provider.configure("groq", stream_error_after=0)
    tenant = make_tenant(preferred_provider="groq")
    with stream(tenant=tenant, messages=HI) as s:
        list(s)
    failed, served = _rows(tenant)
    assert (failed.ttft_ms, failed.completion_tokens) == (None, 0)
    assert served.ttft_ms == s.result.ttft_ms is not None


def test_a_cancelled_stream_is_a_cancelled_row_with_the_tokens_received(
    make_tenant, stub_provider
):
    stub_provider.configure("groq", stream_chunks=200, stream_chunk_delay=0.02)
    tenant = make_tenant(preferred_provider="groq")
    received = ""
    with stream(tenant=tenant, messages=HI) as s:
        for n, chunk in enumerate(s, 1):
            received += chunk.text
            if n == 3:
                break
    [row] = _rows(tenant)
    assert row.get_status_display() == "cancelled"
    assert row.tokens_estimated is True  # the usage chunk never came
    assert row.completion_tokens >= len(received) // 4 > 0
    assert row.ttft_ms is not None
    assert row.cost_pusd is None  # a price times an estimate is no cost


def test_a_stream_without_usage_figures_is_marked_estimated_never_zero(
    make_tenant, stub_provider
):
    stub_provider.configure("llm7", stream_usage=False)
    tenant = make_tenant(preferred_provider="llm7")
    with stream(tenant=tenant, messages=HI) as s:
        list(s)
    [row] = _rows(tenant)
    assert row.get_status_display() == "success" and row.tokens_estimated is True
    assert row.completion_tokens == s.result.usage.completion_tokens > 0
    assert row.cost_pusd is None


def test_a_stream_broken_after_content_keeps_its_ttft_and_the_tokens_received(
    make_tenant, stub_provider
):
    stub_provider.configure("groq", stream_cut_after=2)
    tenant = make_tenant(preferred_provider="groq")
    with pytest.raises(StreamError):
        with stream(tenant=tenant, messages=HI) as s:
            list(s)
    [row] = _rows(tenant)
    assert row.get_status_display() == "error" and row.ttft_ms is not None
    assert row.tokens_estimated is True and row.completion_tokens > 0
