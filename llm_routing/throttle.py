"""A fixed-window request counter in the database, shared by every process, for limits
such as "10 key tests per minute per user"."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import F

from llm_routing import clock
from llm_routing.models import RateCounter


def allow(key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one hit for ``key``; False once more than ``limit`` hits fell in this window."""
    now = clock.now()
    start = int(now.timestamp()) // window_seconds * window_seconds
    bucket = f"{key}:{start}"[:200]
    if not RateCounter.objects.filter(key=bucket).update(count=F("count") + 1):
        ends = dt.datetime.fromtimestamp(start + window_seconds, tz=dt.UTC)
        try:
            with transaction.atomic():
                RateCounter.objects.create(key=bucket, window_ends_at=ends, count=1)
            # A new window: a good moment to drop the finished ones.
            RateCounter.objects.filter(window_ends_at__lt=now).delete()
        except IntegrityError:
            RateCounter.objects.filter(key=bucket).update(count=F("count") + 1)
    count = RateCounter.objects.filter(key=bucket).values_list("count", flat=True).first()
    return (count or 0) <= limit
