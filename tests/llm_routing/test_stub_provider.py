import json

import httpx
import pytest

from llm_routing.stub.server import StubProvider


def chat(stub, provider, key=None, **body):
    key = stub.good_key(provider) if key is None else key
    return httpx.post(
        stub.base_url(provider) + "/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "m", "messages": [{"role": "user", "content": "one two"}], **body},
    )


def test_models_lists_come_in_each_providers_shape(stub_provider):
    groq = httpx.get(stub_provider.base_url("groq") + "/models",
                     headers={"Authorization": f"Bearer {stub_provider.good_key('groq')}"}).json()
    assert groq["object"] == "list" and "context_window" in groq["data"][0]
    router = httpx.get(stub_provider.base_url("openrouter") + "/models").json()
    assert isinstance(router["data"][0]["pricing"]["prompt"], str)
    llm7 = httpx.get(stub_provider.base_url("llm7") + "/models").json()
    assert isinstance(llm7, list) and llm7[0]["id"]


def test_groq_models_need_a_good_key(stub_provider):
    assert httpx.get(stub_provider.base_url("groq") + "/models").status_code == 401


def test_openrouter_key_endpoint_reports_credit(stub_provider):
    key = stub_provider.good_key("openrouter")
    info = httpx.get(stub_provider.base_url("openrouter") + "/key",
                     headers={"Authorization": f"Bearer {key}"}).json()["data"]
    assert info["limit_remaining"] == 7.5


def test_completions_count_tokens_and_openrouter_reports_cost(stub_provider):
    body = chat(stub_provider, "openrouter").json()
    assert body["usage"]["prompt_tokens"] == 2 and body["usage"]["total_tokens"] == 7
    assert body["usage"]["cost"] > 0
    assert "cost" not in chat(stub_provider, "groq").json()["usage"]


def test_groq_sends_daily_request_and_minute_token_headers(stub_provider):
    stub_provider.configure("groq", daily_cap=5)
    headers = chat(stub_provider, "groq").headers
    assert headers["x-ratelimit-limit-requests"] == "5"
    assert headers["x-ratelimit-remaining-requests"] == "4"
    assert headers["x-ratelimit-reset-tokens"] == "7.66s"


def test_429_with_retry_after_after_n_requests(stub_provider):
    stub_provider.configure("openrouter", rate_limit_after=2, retry_after="9")
    codes = [chat(stub_provider, "openrouter").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = chat(stub_provider, "openrouter")
    assert limited.headers["retry-after"] == "9"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert int(limited.headers["x-ratelimit-reset"]) > 10**12  # epoch milliseconds


def test_a_daily_cap_answers_429_with_nothing_remaining(stub_provider):
    stub_provider.configure("groq", daily_cap=1)
    assert chat(stub_provider, "groq").status_code == 200
    limited = chat(stub_provider, "groq")
    assert limited.status_code == 429
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"


def test_bad_keys_errors_in_200_and_garbage(stub_provider):
    assert chat(stub_provider, "groq", key="wrong").status_code == 401
    stub_provider.configure("llm7", error_in_200=True)
    assert "error" in chat(stub_provider, "llm7").json()
    stub_provider.configure("llm7", error_in_200=False, malformed=True)
    with pytest.raises(json.JSONDecodeError):
        chat(stub_provider, "llm7").json()


def test_control_endpoints_script_and_reset_it(stub_provider):
    url = stub_provider.url + "/_stub"
    assert httpx.post(f"{url}/groq/configure", json={"status": 503}).status_code == 200
    assert chat(stub_provider, "groq").status_code == 503
    httpx.post(f"{url}/groq/enqueue", json={"status": 418, "body": {"error": "teapot"}})
    assert httpx.post(f"{url}/groq/configure", json={"nope": 1}).status_code == 400
    assert httpx.post(f"{url}/reset").status_code == 200
    assert chat(stub_provider, "groq").status_code == 200
    assert httpx.get(f"{url}/stats").json()["groq"]["served"] == 1


def test_it_listens_on_loopback_only():
    with pytest.raises(ValueError):
        StubProvider(host="0.0.0.0")
