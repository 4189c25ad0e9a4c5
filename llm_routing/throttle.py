"""Fixed-window request counters in the database, shared by every process, and the one
limit on key tests.

Every path that tests a provider key (the API's ``llm-tokens/test``, the operator screen's
Test button; the admin has none) asks ``key_test`` first. It counts the test against the
principal (``LLM_KEY_TEST_RATE_PER_MINUTE``) and then against the tenant
(``LLM_KEY_TEST_TENANT_RATE_PER_MINUTE``), so creating more API keys, or more users, does
not buy a tenant more tests. A test refused for the principal is not counted against the
tenant, so one caller past their own limit does not use up their colleagues' share.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import JsonResponse

from llm_routing import clock
from llm_routing.models import RateCounter

KEY_TEST_WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # whole seconds until the refusing window ends (0 when allowed)
    message: str = ""


def hit(key: str, *, limit: int, window_seconds: int) -> Decision:
    """Count one hit for ``key``; refused once more than ``limit`` hits fell in this window."""
    now = clock.now()
    start = int(now.timestamp()) // window_seconds * window_seconds
    bucket = f"{key}:{start}"[:200]
    ends = dt.datetime.fromtimestamp(start + window_seconds, tz=dt.UTC)
    if not RateCounter.objects.filter(key=bucket).update(count=F("count") + 1):
        try:
            with transaction.atomic():
                RateCounter.objects.create(key=bucket, window_ends_at=ends, count=1)
            # A new window: a good moment to drop the finished ones.
            RateCounter.objects.filter(window_ends_at__lt=now).delete()
        except IntegrityError:
            RateCounter.objects.filter(key=bucket).update(count=F("count") + 1)
    count = RateCounter.objects.filter(key=bucket).values_list("count", flat=True).first()
    if (count or 0) <= limit:
        return Decision(True)
    return Decision(False, max(1, math.ceil((ends - now).total_seconds())))


def key_test(*, principal: str, tenant_id) -> Decision:
    """May ``principal`` (``tenants.permissions.principal_id``) test a key of this tenant now?"""
    mine = settings.LLM_KEY_TEST_RATE_PER_MINUTE
    theirs = settings.LLM_KEY_TEST_TENANT_RATE_PER_MINUTE
    window = KEY_TEST_WINDOW_SECONDS
    decision = hit(f"keytest:{principal}", limit=mine, window_seconds=window)
    if not decision.allowed:
        message = f"At most {mine} key tests a minute each; nothing was tested."
        return Decision(False, decision.retry_after, message)
    decision = hit(f"keytest:tenant:{tenant_id}", limit=theirs, window_seconds=window)
    if not decision.allowed:
        return Decision(
            False,
            decision.retry_after,
            f"At most {theirs} key tests a minute for this tenant; nothing was tested.",
        )
    return decision


def refusal(decision: Decision) -> JsonResponse:
    """The answer to a refused key test: 429 in the API's error shape, with Retry-After."""
    from tenants.api.base import error_response

    response = error_response(
        429, "rate_limited", f"{decision.message} Try again in {decision.retry_after} s."
    )
    response["Retry-After"] = str(decision.retry_after)
    return response
