import pytest

from tenants import inference_config, services
from tenants.forms import UNSAFE_TEXT_MESSAGE, InferenceConfigForm, ProviderKeysForm
from tests.tenants.helpers import make_key


def config_data(**changes):
    form = InferenceConfigForm(config=inference_config.load(inference_config.default_config_json()))
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_config_form_starts_from_the_current_config():
    config = inference_config.parse(
        {
            **inference_config.default_config_json(),
            "failover_order": ["llm7", "openrouter"],
            "daily_quotas": {"groq": {"requests": 10, "tokens": None}},
            "quota_threshold": 0.75,
        }
    )
    form = InferenceConfigForm(config=config)
    assert form["failover_order"].value() == "llm7, openrouter"
    assert form["quota_requests_groq"].value() == 10
    assert form["quota_threshold_percent"].value() == 75


def test_a_valid_config_form_gives_a_document_the_schema_accepts():
    form = InferenceConfigForm(
        config_data(
            preferred_provider="openrouter",
            failover_order="llm7; groq",
            quota_tokens_llm7="5000",
            auto_failover=None,
        )
    )
    assert form.is_valid(), form.errors
    document = form.config_document()
    assert document["failover_order"] == ["llm7", "groq"]
    assert document["daily_quotas"] == {"llm7": {"requests": None, "tokens": 5000}}
    assert document["auto_failover"] is False
    assert inference_config.parse(document).preferred_provider == "openrouter"


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"preferred_provider": "mistral"}, "preferred_provider"),
        ({"model_groq": ""}, "model_groq"),
        ({"failover_order": "llm7, llm7"}, "failover_order"),
        ({"quota_requests_groq": "0"}, "quota_requests_groq"),
        ({"quota_threshold_percent": "1"}, "quota_threshold_percent"),
        ({"model_llm7": "x" * 201}, "model_llm7"),
    ],
)
def test_config_errors_land_on_the_field(changes, field):
    form = InferenceConfigForm(config_data(**changes))
    assert not form.is_valid()
    assert field in form.errors


def test_key_inputs_are_never_filled_in_even_after_an_error():
    key = make_key("groq")
    form = ProviderKeysForm({"key_groq": key, "key_llm7": "bad"})
    assert not form.is_valid()
    assert key not in form.as_p()
    assert "key_llm7" in form.errors and "key_groq" not in form.errors


def test_the_keys_form_reports_changes_per_provider():
    status = {"groq": {"configured": True}}
    llm7 = make_key("llm7")
    form = ProviderKeysForm({"key_llm7": f"  {llm7}\n", "remove_groq": "on"}, status=status)
    assert form.is_valid(), form.errors
    assert form.changes() == {"groq": None, "llm7": llm7}


def test_remove_is_ignored_for_a_provider_without_a_key():
    form = ProviderKeysForm({"remove_openrouter": "on"}, status={})
    assert form.is_valid()
    assert form.changes() == {}


@pytest.mark.django_db
def test_form_changes_feed_the_service(tenant_a):
    key = make_key("openrouter")
    form = ProviderKeysForm({"key_openrouter": key})
    assert form.is_valid()
    services.tenant_set_tokens(tenant=tenant_a, tokens=form.changes())
    assert services.tenant_provider_key(tenant=tenant_a, provider="openrouter") == key


@pytest.mark.parametrize("bad", ["m\ud800", "m\x00", "\udfffx"])
def test_a_nul_or_lone_surrogate_in_any_text_field_is_a_field_error_never_shown_back(bad):
    data = {
        "preferred_provider": "groq",
        "auto_failover": "on",
        "quota_threshold_percent": "80",
        "model_groq": bad,
        "failover_order": "llm7",
    }
    form = InferenceConfigForm(data)
    assert not form.is_valid()
    assert UNSAFE_TEXT_MESSAGE in form.errors["model_groq"]
    form.as_div().encode("utf-8")  # the page showing the form back can be encoded
    keys = ProviderKeysForm({"key_llm7": "abcdefghijklmnop" + bad})
    assert not keys.is_valid() and UNSAFE_TEXT_MESSAGE in keys.errors["key_llm7"]
    keys.as_div().encode("utf-8")
