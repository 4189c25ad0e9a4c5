"""A tenant whose hard budget is spent gets OpenAI's answer for an account out of credit
through the endpoint: 429 with code ``insufficient_quota`` and a Retry-After until the
window resets, streamed or not, and a usage row that says so (issue 12)."""

import datetime as dt
from decimal import Decimal

import openai
import pytest

from tests.gateway.test_the_openai_sdk_works_against_the_endpoint import HI, client, rows_of
from usage import budgets
from usage.models import Budget

pytestmark = [pytest.mark.slow]


def test_the_sdk_raises_rate_limit_error_with_insufficient_quota(gateway, tenant_key):
    tenant, key = tenant_key(preferred_provider="groq")
    Budget.objects.create(tenant=tenant, period="day", limit_usd=Decimal(0), mode="hard")
    sdk = client(gateway, key)
    for streamed in (False, True):
        with pytest.raises(openai.RateLimitError) as caught:
            if streamed:
                with sdk.chat.completions.create(model="auto", messages=HI, stream=True) as s:
                    list(s)
            else:
                sdk.chat.completions.create(model="auto", messages=HI)
        error = caught.value
        assert error.status_code == 429
        assert error.code == "insufficient_quota"
        assert error.body["type"] == "insufficient_quota"
        assert "daily budget of $0 is spent" in error.message
        _, ends = budgets.window_bounds("day", tenant.timezone, dt.datetime.now(dt.UTC))
        wait = (ends - dt.datetime.now(dt.UTC)).total_seconds()
        assert wait - 60 <= int(error.response.headers["retry-after"]) <= wait + 1
        assert error.response.headers["x-request-id"]
    assert rows_of(tenant, 2) == [("groq", "budget_exceeded", 1)] * 2
