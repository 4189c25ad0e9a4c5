"""Bad input on every tenant endpoint: a 4xx with a message, and the tenant row unchanged.

A table of hand-picked cases, each with its exact status. Generated garbage for these and
every other endpoint and form: test_generated_bad_input_never_causes_a_500.py.
"""

import json

import pytest

from tenants import services
from tests.tenants.helpers import make_key, row_of, url

pytestmark = pytest.mark.django_db

JSON = "application/json"
HUGE = json.dumps({"llm7": "a" * 70_000}).encode()

# (name, endpoint, method, content type, raw body, status, error code)
CASES = [
    ("not json", "llm-tokens", "put", JSON, b"{groq: 1}", 400, "invalid_json"),
    ("truncated json", "inference-config", "put", JSON, b'{"auto_failover": tr', 400, None),
    ("blank body", "llm-tokens", "put", JSON, b"  \n", 400, "invalid_json"),
    ("top-level list", "llm-tokens", "put", JSON, b'["groq"]', 400, "invalid_json"),
    ("top-level string", "inference-config", "put", JSON, b'"groq"', 400, "invalid_json"),
    ("top-level null", "inference-config", "put", JSON, b"null", 400, "invalid_json"),
    ("NaN", "inference-config", "put", JSON, b'{"quota_threshold": NaN}', 400, "invalid_json"),
    ("duplicate keys", "llm-tokens", "put", JSON, b'{"groq": null, "groq": null}', 400, None),
    ("deep nesting", "inference-config", "put", JSON, b"[" * 50_000 + b"]" * 50_000, 413, None),
    (
        "deeply nested small",
        "inference-config",
        "put",
        JSON,
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
        400,
        None,
    ),
    ("invalid utf-8", "llm-tokens", "put", JSON, b'{"groq": "\xff\xfe"}', 400, "invalid_utf8"),
    ("latin-1 charset", "llm-tokens", "put", JSON + "; charset=latin-1", b"{}", 415, None),
    (
        "form encoded",
        "llm-tokens",
        "put",
        "application/x-www-form-urlencoded",
        b"groq=x",
        415,
        "unsupported_media_type",
    ),
    ("text/plain", "inference-config", "put", "text/plain", b"{}", 415, None),
    ("no content type", "inference-config", "put", "", b"{}", 415, None),
    ("huge body", "llm-tokens", "put", JSON, HUGE, 413, "body_too_large"),
    (
        "unknown provider",
        "llm-tokens",
        "put",
        JSON,
        b'{"mistral": "abcdefghijklmnopqrst"}',
        400,
        "invalid_tokens",
    ),
    (
        "malformed groq key",
        "llm-tokens",
        "put",
        JSON,
        b'{"groq": "gsk_short"}',
        400,
        "invalid_tokens",
    ),
    ("number as key", "llm-tokens", "put", JSON, b'{"llm7": 12345678901234567890}', 400, None),
    ("list as key", "llm-tokens", "put", JSON, b'{"groq": ["gsk_"]}', 400, None),
    (
        "unknown config field",
        "inference-config",
        "put",
        JSON,
        b'{"temperature": 0.2}',
        400,
        "invalid_config",
    ),
    ("wrong type", "inference-config", "put", JSON, b'{"auto_failover": "true"}', 400, None),
    (
        "unknown preferred",
        "inference-config",
        "put",
        JSON,
        b'{"preferred_provider": "x"}',
        400,
        None,
    ),
    (
        "unknown model provider",
        "inference-config",
        "put",
        JSON,
        b'{"provider_models": {"x": "m"}}',
        400,
        None,
    ),
    ("models not a map", "inference-config", "put", JSON, b'{"provider_models": ["m"]}', 400, None),
    (
        "failover twice",
        "inference-config",
        "put",
        JSON,
        b'{"failover_order": ["llm7", "llm7"]}',
        400,
        None,
    ),
    (
        "bad quota",
        "inference-config",
        "put",
        JSON,
        b'{"daily_quotas": {"groq": {"requests": -1}}}',
        400,
        None,
    ),
    (
        "quota unknown field",
        "inference-config",
        "put",
        JSON,
        b'{"daily_quotas": {"groq": {"minutes": 1}}}',
        400,
        None,
    ),
    (
        "threshold out of range",
        "inference-config",
        "put",
        JSON,
        b'{"quota_threshold": 2}',
        400,
        None,
    ),
    ("bool threshold", "inference-config", "put", JSON, b'{"quota_threshold": true}', 400, None),
    ("post to tokens", "llm-tokens", "post", JSON, b"{}", 405, "method_not_allowed"),
    ("delete config", "inference-config", "delete", JSON, b"", 405, "method_not_allowed"),
    ("patch config", "inference-config", "patch", JSON, b"{}", 405, None),
]


@pytest.fixture
def configured_tenant(tenant_a):
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": make_key("groq")})
    services.tenant_update_inference_config(tenant=tenant_a, patch={"failover_order": ["llm7"]})
    return tenant_a


@pytest.mark.parametrize(
    "endpoint,method,content_type,body,status,code",
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_bad_input_gets_a_4xx_with_a_message_and_changes_nothing(
    client_a, configured_tenant, endpoint, method, content_type, body, status, code
):
    before = row_of(configured_tenant)
    response = getattr(client_a, method)(
        url(configured_tenant, endpoint), body, content_type=content_type
    )
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert error["message"]
    if code:
        assert error["code"] == code
    assert row_of(configured_tenant) == before


def test_a_content_length_over_the_limit_is_refused_before_reading(client_a, tenant_a, settings):
    settings.API_MAX_BODY_BYTES = 10
    response = client_a.put(url(tenant_a, "llm-tokens"), b'{"groq": null}', content_type=JSON)
    assert response.status_code == 413
