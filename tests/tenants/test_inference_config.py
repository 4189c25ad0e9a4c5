import pytest

from tenants import inference_config as ic


def valid(**changes):
    return {**ic.default_config_json(), **changes}


def errors_of(document) -> dict[str, str]:
    with pytest.raises(ic.InferenceConfigError) as caught:
        ic.parse(document)
    return caught.value.errors


def test_the_default_config_parses():
    config = ic.parse(ic.default_config_json())
    assert config.preferred_provider == "groq"
    assert config.auto_failover is True
    assert config.quota_threshold == ic.DEFAULT_QUOTA_THRESHOLD


@pytest.mark.parametrize(
    "document,field",
    [
        (valid(colour="blue"), "colour"),
        (valid(preferred_provider="mistral"), "preferred_provider"),
        (valid(preferred_provider=None), "preferred_provider"),
        (valid(auto_failover=1), "auto_failover"),
        (valid(provider_models={"groq": "m", "mistral": "m"}), "provider_models.mistral"),
        (valid(provider_models={"groq": ""}), "provider_models.groq"),
        (valid(provider_models={"groq": "m\n"}), "provider_models.groq"),
        (valid(provider_models={"llm7": "m"}), "provider_models"),
        (valid(failover_order="llm7"), "failover_order"),
        (valid(failover_order=["llm7", "nope"]), "failover_order.1"),
        (valid(daily_quotas={"groq": {"requests": 0}}), "daily_quotas.groq.requests"),
        (valid(daily_quotas={"groq": {"tokens": 1.5}}), "daily_quotas.groq.tokens"),
        (valid(daily_quotas={"groq": {"hours": 1}}), "daily_quotas.groq.hours"),
        (valid(daily_quotas={"nope": {}}), "daily_quotas.nope"),
        (valid(quota_threshold=0), "quota_threshold"),
        (valid(quota_threshold=False), "quota_threshold"),
    ],
)
def test_each_mistake_is_named_by_its_field(document, field):
    assert field in errors_of(document)


def test_a_non_object_is_refused():
    assert errors_of(["groq"]) == {"": "must be a JSON object"}


def test_merge_replaces_top_level_fields_and_merges_provider_maps():
    merged = ic.merge(
        ic.default_config_json(),
        {"auto_failover": False, "provider_models": {"llm7": "deepseek-r1", "openrouter": None}},
    )
    config = ic.parse(merged)
    assert config.auto_failover is False
    assert config.provider_models == {"groq": "llama-3.3-70b-versatile", "llm7": "deepseek-r1"}


def test_merge_refuses_to_remove_an_unknown_provider():
    with pytest.raises(ic.InferenceConfigError) as caught:
        ic.merge(ic.default_config_json(), {"daily_quotas": {"nope": None}})
    assert "daily_quotas.nope" in caught.value.errors


def test_candidate_order_puts_preferred_then_failover_order_then_the_rest():
    config = ic.parse(
        valid(
            preferred_provider="llm7", provider_models={"llm7": "m"}, failover_order=["openrouter"]
        )
    )
    assert config.candidate_order() == ["llm7", "openrouter", "groq"]


def test_daily_quota_falls_back_to_the_provider_default():
    config = ic.parse(valid(daily_quotas={"llm7": {"requests": 5}}))
    assert config.daily_quota("llm7") == ic.Quota(requests=5, tokens=None)
    assert config.daily_quota("groq").requests == 14_400


def test_load_survives_a_broken_stored_document():
    config = ic.load({"preferred_provider": "gone", "auto_failover": False})
    assert config.preferred_provider == "groq"
    assert ic.load("not even a dict").preferred_provider == "groq"


def test_to_json_round_trips():
    config = ic.parse(
        valid(failover_order=["llm7"], daily_quotas={"groq": {"tokens": 9}}, quota_threshold=0.6)
    )
    assert ic.parse(config.to_json()) == config


@pytest.mark.parametrize(
    "document,field",
    [
        ({"provider_models": {"groq": "m\ud800"}}, "provider_models.groq"),
        ({"provider_models": {"groq": "m\udfff-tail"}}, "provider_models.groq"),
        ({"provider_models": {"groq": "m\x00"}}, "provider_models.groq"),
        ({"provider_models": {"groq": "m\u2028x"}}, "provider_models.groq"),
        ({"preferred_provider": "groq\ud800"}, "preferred_provider"),
        ({"failover_order": ["llm7\x00"]}, "failover_order.0"),
        ({"daily_quotas": {"\ud800": {"requests": 1}}}, "daily_quotas.\ud800"),
    ],
)
def test_lone_surrogates_nuls_and_other_unprintables_are_refused_in_every_string(
    document, field
):
    merged = ic.merge(ic.default_config_json(), document)
    with pytest.raises(ic.InferenceConfigError) as caught:
        ic.parse(merged)
    assert field in caught.value.errors


def test_a_stored_model_name_with_a_surrogate_falls_back_to_a_usable_config():
    stored = {**ic.default_config_json(), "provider_models": {"groq": "m\ud800"}}
    config = ic.load(stored)
    assert all(model.isprintable() for model in config.provider_models.values())
