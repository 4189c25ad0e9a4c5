import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_routing import outcomes
from llm_routing.http_client import HttpReply, TransportFailure
from llm_routing.outcomes import read_usage


def reply(status, body, raw=False):
    return HttpReply(status, {}, body if raw else json.dumps(body).encode())


def classify(status, body, raw=False):
    return outcomes.classify_reply(reply(status, body, raw), requested_model="m", secret="s3cret")


@pytest.mark.parametrize(
    ("status", "outcome", "retryable"),
    [
        (429, "rate_limited", True),
        (500, "error", True),
        (503, "error", True),
        (401, "auth_error", True),
        (403, "auth_error", True),
        (402, "error", True),
        (400, "invalid_request", False),
        (404, "invalid_request", False),
        (422, "invalid_request", False),
    ],
)
def test_http_statuses_are_classified_once(status, outcome, retryable):
    with pytest.raises(outcomes.ProviderError) as caught:
        classify(status, {"error": {"message": "nope"}})
    assert (caught.value.outcome, caught.value.retryable) == (outcome, retryable)
    assert caught.value.error_type == f"http_{status}"
    assert caught.value.status_code == status


@pytest.mark.parametrize(
    ("body", "raw", "error_type"),
    [
        (b"<html>gateway</html>", True, "malformed_body"),
        ([1, 2], False, "malformed_body"),
        ({"choices": []}, False, "malformed_body"),
        ({"choices": [{"message": {"content": 5}}]}, False, "malformed_body"),
        ({"error": {"message": "died mid-stream"}}, False, "error_in_200"),
    ],
)
def test_a_200_that_is_not_a_completion_is_transient(body, raw, error_type):
    with pytest.raises(outcomes.ProviderError) as caught:
        classify(200, body, raw)
    assert caught.value.error_type == error_type and caught.value.retryable


def test_a_completion_reads_content_tokens_and_provider_cost():
    completion = classify(
        200,
        {
            "model": "x/y",
            "choices": [{"message": {"role": "assistant", "content": "hello"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "cost": 0.5},
        },
    )
    assert (completion.content, completion.model, completion.total_tokens) == ("hello", "x/y", 7)
    assert str(completion.provider_cost) == "0.5"


def test_nonsense_token_counts_and_costs_are_ignored():
    completion = classify(
        200,
        {
            "choices": [{"message": {"content": None}}],
            "usage": {"prompt_tokens": -1, "completion_tokens": "9", "cost": "NaN"},
        },
    )
    assert (completion.content, completion.model) == ("", "m")
    assert (completion.prompt_tokens, completion.completion_tokens) == (0, 0)
    assert completion.provider_cost is None


def test_a_provider_message_quoting_the_key_is_scrubbed():
    with pytest.raises(outcomes.ProviderError) as caught:
        classify(400, {"error": {"message": "key s3cret is wrong"}})
    assert "s3cret" not in caught.value.reason


@pytest.mark.parametrize(("kind", "outcome"), [("timeout", "timeout"), ("connect_error", "error")])
def test_transport_failures_are_transient(kind, outcome):
    error = outcomes.classify_failure(TransportFailure(kind, "boom"))
    assert (error.outcome, error.error_type, error.retryable) == (outcome, kind, True)


# --- issue 12: token classes and provider costs in ``usage`` --------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=10,
)
_usage = st.fixed_dictionaries({}, optional={
    "prompt_tokens": _json | st.integers(0, 10**6),
    "completion_tokens": _json | st.integers(0, 10**6),
    "prompt_tokens_details": _json | st.fixed_dictionaries({"cached_tokens": _json}),
    "completion_tokens_details": _json | st.fixed_dictionaries({"reasoning_tokens": _json}),
    "cost": _json, "is_byok": _json,
    "cost_details": _json | st.fixed_dictionaries({"upstream_inference_cost": _json}),
})


@given(_usage)
def test_any_usage_object_reads_without_raising_and_classes_stay_within_totals(usage):
    figures = read_usage(usage)
    assert figures is not None
    assert type(figures.cached_tokens) is int and 0 <= figures.cached_tokens < 10**9
    assert type(figures.reasoning_tokens) is int and 0 <= figures.reasoning_tokens < 10**9
    if figures.prompt_tokens is not None:
        assert figures.cached_tokens <= figures.prompt_tokens
    if figures.completion_tokens is not None:
        assert figures.reasoning_tokens <= figures.completion_tokens
    assert figures.cost is None or 0 <= figures.cost


def test_a_byok_cost_is_the_fee_plus_the_upstream_bill_and_otherwise_just_the_cost():
    byok = {"cost": 0.001, "is_byok": True, "cost_details": {"upstream_inference_cost": 0.02}}
    assert str(read_usage(byok).cost) == "0.021"
    assert read_usage({**byok, "cost_details": {"upstream_inference_cost": "?"}}).cost is None
    assert str(read_usage({**byok, "is_byok": False}).cost) == "0.001"
    assert str(read_usage({**byok, "is_byok": "true"}).cost) == "0.001"
