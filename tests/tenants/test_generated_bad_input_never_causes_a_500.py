"""Generated bad input on every JSON endpoint, form and query of the API, the operator
screens and the tenant admin: never a 5xx, and the tenant row (and its API keys) unchanged.

The strategies mix what broke the product before (issue 8): nesting deep enough to exhaust
the JSON parser, lone surrogates, NULs, non-ASCII keys and dates at the calendar's edges,
with wrong types, unknown fields and unknown providers. Every generated body carries at
least one value that must be refused, so "unchanged" is always the right answer. Form
bodies are sent as bytes, as an attacker would: a lone surrogate as its CESU-8 bytes, which
are not UTF-8.

``test_every_input_taking_url_is_covered`` fails when an endpoint is added to the API or
the screens without being added here.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_routing import providers
from tenants import inference_config, services
from tenants.models import Tenant, TenantAPIKey
from tests.tenants.helpers import form_data, make_key, row_of, url

pytestmark = pytest.mark.django_db

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

# --- Values ---------------------------------------------------------------------------------

# Text of any code point, lone surrogates and NULs included.
_any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
_names = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=20),
    _any_text,
)
# Text that no field may take: it holds a NUL or a lone surrogate.
_poison = st.builds(
    lambda head, bad, tail: head + bad + tail,
    _names,
    st.sampled_from(["\x00", "\ud800", "\udfff", "\udc80"]) | st.characters(categories=["Cs"]),
    _names,
)
_edge_dates = st.sampled_from(
    ["0001-01-01", "9999-12-31", "10000-01-01", "1969-12-31", "0000-00-00", "-1-01-01"]
)
_edge_numbers = st.sampled_from(
    ["1e309", "-1e309", "nan", "inf", "99999999999999999999999999", "-5", "0", "1.5e-400"]
)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _names, _edge_dates
)
_json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names, inner, max_size=3),
    max_leaves=8,
)
# A key no provider may take: it cannot go in an HTTP header.
_unsendable_key = st.builds(
    lambda key, at, bad: key[:at] + bad + key[at:],
    st.sampled_from(providers.provider_names()).map(make_key),
    st.integers(0, 60),
    st.sampled_from(["\u00a0", " ", "\x00", "\ud800", "é", "\t", "\u2028"]) | _poison,
)
_unknown_provider = _names.filter(lambda name: not providers.is_known(name))


def _malformed_key(provider: str):
    spec = providers.get_provider(provider)
    strings = _names.filter(lambda s: not spec.key_is_well_formed(s)) | _unsendable_key
    return strings | st.integers() | st.booleans() | st.lists(_scalars, max_size=2)


# --- JSON bodies ----------------------------------------------------------------------------


@st.composite
def bad_token_bodies(draw):
    """A token map with at least one bad entry, perhaps beside good ones."""
    body = {}
    for provider in draw(st.sets(st.sampled_from(providers.provider_names()))):
        body[provider] = make_key(provider) if draw(st.booleans()) else None
    if draw(st.booleans()):
        body[draw(_unknown_provider)] = draw(_json_values)
    else:
        provider = draw(st.sampled_from(providers.provider_names()))
        body[provider] = draw(_malformed_key(provider))
    return body


_config_fields = sorted(inference_config.default_config_json()) + [
    "failover_order",
    "daily_quotas",
    "quota_threshold",
]


@st.composite
def bad_config_bodies(draw):
    """A config patch with at least one wrong type, unknown field, unknown provider or
    unprintable model name."""
    kind = draw(st.sampled_from(["unknown_field", "wrong_type", "unknown_provider", "model"]))
    if kind == "unknown_field":
        name = draw(_names.filter(lambda n: n not in _config_fields))
        return {name: draw(_json_values)}
    if kind == "model":
        provider = draw(st.sampled_from(providers.provider_names()))
        return {"provider_models": {provider: draw(_poison | st.just("m" * 201))}}
    if kind == "unknown_provider":
        name = draw(_unknown_provider)
        where = draw(st.sampled_from(["preferred", "models", "order", "quotas"]))
        return {
            "preferred": {"preferred_provider": name},
            "models": {"provider_models": {name: "some-model"}},
            "order": {"failover_order": [name]},
            "quotas": {"daily_quotas": {name: {"requests": 10}}},
        }[where]
    field = draw(st.sampled_from(_config_fields))
    wrong = {
        "preferred_provider": st.integers() | st.booleans() | st.lists(_scalars, max_size=2),
        "auto_failover": st.integers() | _names | st.none(),
        "provider_models": st.integers() | _names | st.lists(_scalars, min_size=1, max_size=2),
        "failover_order": st.integers() | _names.filter(bool) | st.booleans(),
        "daily_quotas": st.integers() | _names | st.lists(_scalars, min_size=1, max_size=2),
        "quota_threshold": _names | st.booleans() | st.floats(max_value=0.04) | st.none(),
    }[field]
    return {field: draw(wrong)}


@st.composite
def bad_key_test_bodies(draw, key_field: str):
    """A key test that must be refused or fail without saving: an unknown provider, an
    unsendable typed key, a wrong type or an unknown field (never "test the stored key")."""
    kind = draw(st.sampled_from(["provider", "key", "type", "field"]))
    provider = draw(st.sampled_from(providers.provider_names()))
    if kind == "provider":
        return {"provider": draw(_unknown_provider | st.integers() | st.none() | _poison)}
    if kind == "key":
        return {"provider": provider, key_field: draw(_unsendable_key)}
    if kind == "type":
        return {"provider": provider, key_field: draw(st.integers() | st.lists(_scalars))}
    return {"provider": draw(_poison), draw(_names): draw(_json_values)}


def _encode(body, mangle: str) -> bytes:
    """The body as JSON (lone surrogates escaped as \\ud800: valid JSON, invalid strings),
    perhaps mangled."""
    raw = json.dumps(body).encode("utf-8")
    if mangle == "invalid_utf8":
        return raw[:1] + b"\xc3\x28" + raw[1:]
    if mangle == "truncated":
        return raw[:-1]
    if mangle == "nested":  # deep enough to exhaust the parser's recursion, small enough
        return b'{"x": ' + b"[" * 3000 + raw + b"]" * 3000 + b"}"
    if mangle == "raw_surrogate":  # the surrogate's own bytes, not its JSON escape
        return raw[:-1] + b', "z": "\xed\xa0\x80"}'
    if mangle == "nul":
        return raw[:-1] + b', "z": "\\u0000"}'
    return raw


_mangles = st.sampled_from(
    ["none", "none", "none", "invalid_utf8", "truncated", "nested", "raw_surrogate", "nul"]
)

# --- Form and query bodies ------------------------------------------------------------------

_bad_form_value = st.one_of(_poison, _edge_dates, _edge_numbers, st.just("x" * 5000))


def _form_bytes(data: dict[str, str]) -> bytes:
    """urlencoded as a client that sends whatever it likes would: surrogates as bytes."""
    return urlencode(data, encoding="utf-8", errors="surrogatepass").encode("ascii")


@st.composite
def bad_form_changes(draw, fields: list[str]):
    """1-3 fields (of the page's, or made up) set to bad values, one of them poisoned."""
    names = draw(st.lists(st.sampled_from(fields) | _names, min_size=1, max_size=3))
    changes = {name: draw(_bad_form_value) for name in names}
    changes[names[0]] = draw(_poison)
    return changes


# --- Targets --------------------------------------------------------------------------------

# name -> (method, path, body kind). Paths take the tenant; form pages are read with GET
# first so that the rest of the body is what a browser would send.
JSON_TARGETS = {
    "tenants_api:llm-tokens": ("put", lambda t: url(t, "llm-tokens"), bad_token_bodies()),
    "tenants_api:inference-config": (
        "put",
        lambda t: url(t, "inference-config"),
        bad_config_bodies(),
    ),
    "llm_routing_api:llm-token-test": (
        "post",
        lambda t: url(t, "llm-tokens/test"),
        bad_key_test_bodies("api_key"),
    ),
    "screens:key_test": (
        "post",
        lambda t: f"/admin/screens/tenants/{t.pk}/keys/test",
        bad_key_test_bodies("key"),
    ),
}
FORM_TARGETS = {
    "screens:keys": lambda t: f"/admin/screens/tenants/{t.pk}/keys/",
    "screens:providers": lambda t: f"/admin/screens/tenants/{t.pk}/providers/",
    # openrouter has no stored key: removing it changes nothing, whatever the body says.
    "screens:key_remove": lambda t: f"/admin/screens/tenants/{t.pk}/keys/openrouter/remove/",
    "admin:tenants_tenant_change": lambda t: f"/admin/tenants/tenant/{t.pk}/change/",
    "admin:tenants_tenant_add": lambda t: "/admin/tenants/tenant/add/",
    "admin:tenants_tenantapikey_add": lambda t: "/admin/tenants/tenantapikey/add/",
    "screens:budget_alert_email": lambda t: (
        f"/admin/screens/tenants/{t.pk}/usage/budget-alert-email"
    ),
    "admin:usage_budget_add": lambda t: "/admin/usage/budget/add/",
    "admin:tenants_alertwebhook_add": lambda t: "/admin/tenants/alertwebhook/add/",
}
QUERY_TARGETS = {
    "screens:index": (lambda t: "/admin/screens/", ["q", "page"]),
    "screens:usage": (
        lambda t: f"/admin/screens/tenants/{t.pk}/usage/",
        ["period", "start", "end"],
    ),
    "screens:usage_all": (lambda t: "/admin/screens/usage/", ["period", "start", "end"]),
    "screens:operations": (lambda t: "/admin/screens/operations/", ["period"]),
    "screens:keys": (lambda t: f"/admin/screens/tenants/{t.pk}/keys/", ["x"]),
    "screens:providers": (lambda t: f"/admin/screens/tenants/{t.pk}/providers/", ["x"]),
    "screens:key_remove": (
        lambda t: f"/admin/screens/tenants/{t.pk}/keys/openrouter/remove/",
        ["x"],
    ),
    "llm_routing_api:available-models": (lambda t: url(t, "available-models"), ["x"]),
    "admin:tenants_tenant_changelist": (lambda t: "/admin/tenants/tenant/", ["q", "o", "p"]),
    "admin:tenants_tenantapikey_changelist": (
        lambda t: "/admin/tenants/tenantapikey/",
        ["q", "state", "o"],
    ),
}

_hypothesis = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def configured_tenant(tenant_a, stub_provider, settings):
    settings.LLM_KEY_TEST_RATE_PER_MINUTE = 10**6  # every example reaches the view
    services.tenant_set_tokens(tenant=tenant_a, tokens={"groq": make_key("groq")})
    services.tenant_update_inference_config(tenant=tenant_a, patch={"failover_order": ["llm7"]})
    return tenant_a


@pytest.fixture
def root(db, django_user_model) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    return client


def state(tenant: Tenant):
    return row_of(tenant), Tenant.objects.count(), TenantAPIKey.objects.count()


def assert_refused_without_a_change(response, before, tenant, what):
    assert response.status_code < 500, (what, response.status_code, response.content[:300])
    assert state(tenant) == before, what


@pytest.mark.parametrize("target", sorted(JSON_TARGETS))
@_hypothesis
@given(data=st.data(), mangle=_mangles)
def test_generated_bad_json_is_refused_and_changes_nothing(
    root, configured_tenant, target, data, mangle
):
    method, path, strategy = JSON_TARGETS[target]
    body = _encode(data.draw(strategy), mangle)
    before = state(configured_tenant)
    response = getattr(root, method)(path(configured_tenant), body, content_type=JSON)
    assert_refused_without_a_change(response, before, configured_tenant, body[:200])
    if response.status_code >= 400:
        assert response.json()["error"]["message"]


@pytest.mark.parametrize("target", sorted(FORM_TARGETS))
@_hypothesis
@given(data=st.data())
def test_generated_bad_forms_are_refused_and_change_nothing(root, configured_tenant, target, data):
    path = FORM_TARGETS[target](configured_tenant)
    page = form_data(root.get(path).content.decode())
    changes = data.draw(bad_form_changes(sorted(page) or ["x"]))
    before = state(configured_tenant)
    response = root.post(path, _form_bytes({**page, **changes}), content_type=FORM)
    assert_refused_without_a_change(response, before, configured_tenant, changes)


@pytest.mark.parametrize("target", sorted(QUERY_TARGETS))
@_hypothesis
@given(data=st.data())
def test_generated_bad_queries_are_answered_and_change_nothing(
    root, configured_tenant, target, data
):
    path, fields = QUERY_TARGETS[target]
    changes = data.draw(bad_form_changes(fields))
    before = state(configured_tenant)
    query = urlencode(changes, encoding="utf-8", errors="surrogatepass")
    response = root.get(f"{path(configured_tenant)}?{query}")
    assert_refused_without_a_change(response, before, configured_tenant, changes)


def _input_urls(resolver: URLResolver, namespace: str = "") -> set[str]:
    names = set()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            names |= _input_urls(entry, (inner or namespace or "").strip(":"))
        elif isinstance(entry, URLPattern) and entry.name:
            names.add(f"{namespace}:{entry.name}" if namespace else entry.name)
    return names


def test_every_input_taking_url_is_covered():
    """Every endpoint of the API and the screens is under one of the generated tests."""
    ours = {
        name
        for name in _input_urls(get_resolver())
        if name.split(":")[0] in ("tenants_api", "llm_routing_api", "screens")
    }
    covered = set(JSON_TARGETS) | set(FORM_TARGETS) | set(QUERY_TARGETS)
    assert ours - covered == set()

