"""An operator's LLM_EXTRA_PROVIDERS that cannot build the provider registry stops the
start with system check tenants.E003 naming the problem (instead of passing every check
and then failing each request that touches a provider); a good list passes."""

import json

import pytest
from django.core import checks

from tenants.checks import check_extra_providers

GOOD = {"name": "vllm", "label": "Local vLLM", "base_url": "http://10.0.0.5:8000/v1"}


@pytest.mark.parametrize("value,problem", [
    ([{"name": "vllm"}], "no 'base_url' field"),
    ([{**GOOD, "name": "groq"}], "'groq' is already a provider"),
    ([{**GOOD, "name": "Bad Name"}], "bad provider name"),
    ([{**GOOD, "key_pattern": "("}], "unterminated"),
    (["vllm"], "each entry must be a JSON object"),
    ({"name": "vllm"}, "must be a JSON list"),
    # What config/settings.py keeps for text that is not JSON.
    (json.JSONDecodeError("Expecting value", "[1,\n x]", 5), "not valid JSON: Expecting value at "
                                                            "line 2, column 2"),
])
def test_a_malformed_list_is_error_e003_naming_the_problem(settings, value, problem):
    settings.LLM_EXTRA_PROVIDERS = value
    errors = check_extra_providers(None)
    assert [e.id for e in errors] == ["tenants.E003"]
    assert problem in errors[0].msg
    assert errors[0].hint
    # And it is registered: a full check run reports it too.
    assert "tenants.E003" in {e.id for e in checks.run_checks()}


@pytest.mark.parametrize("value", [[], [GOOD]])
def test_a_good_list_passes(settings, value):
    settings.LLM_EXTRA_PROVIDERS = value
    assert check_extra_providers(None) == []
