"""Reading providers' rate-limit headers into one typed report, and deciding cooldowns.

Groq sends ``x-ratelimit-{limit,remaining,reset}-requests`` (requests per *day*, reset as
a duration like ``2m59.56s``) and ``-tokens`` (tokens per *minute*). OpenRouter sends
``X-RateLimit-{Limit,Remaining,Reset}`` with the reset as epoch milliseconds; whether
that is a per-minute or a daily limit shows in how far away the reset is. ``Retry-After``
is seconds or an HTTP date. Every value is optional and malformed values are ignored.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass

from llm_routing import clock

# A reset further away than this belongs to a daily (or longer) window, not a per-minute one.
DAILY_WINDOW_THRESHOLD = dt.timedelta(minutes=10)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


@dataclass(frozen=True)
class RateLimitReport:
    daily_limit: int | None = None
    daily_remaining: int | None = None
    daily_reset_at: dt.datetime | None = None
    minute_exhausted: bool = False
    minute_reset_at: dt.datetime | None = None
    retry_after_at: dt.datetime | None = None

    @property
    def daily_used(self) -> int | None:
        if self.daily_limit is None or self.daily_remaining is None:
            return None
        return max(self.daily_limit - self.daily_remaining, 0)


@dataclass(frozen=True)
class Cooldown:
    until: dt.datetime
    kind: str  # "minute" or "daily"
    reason: str


def parse_duration(value: str | None) -> float | None:
    """Seconds in a Go-style duration (``2m59.56s``, ``7.66s``, ``450ms``, ``1h``)."""
    if not value:
        return None
    text = value.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        try:
            seconds = float(text)  # a bare number is seconds
        except ValueError:
            return None
        return seconds if 0 <= seconds < 10**7 else None
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)


def parse_retry_after(value: str | None, now: dt.datetime) -> dt.datetime | None:
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            at = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        return max(at, now)
    if not 0 <= seconds < 10**7:
        return None
    return now + dt.timedelta(seconds=seconds)


def _int(value: str | None) -> int | None:
    try:
        number = int(float(value)) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and 0 <= number < 10**12 else None


def _epoch(value: str | None) -> dt.datetime | None:
    try:
        number = int(float(value)) if value is not None else None
    except ValueError:
        return None
    if number is None or not 0 < number < 10**14:
        return None
    seconds = number / 1000 if number > 10**11 else number  # milliseconds or seconds
    try:
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_headers(headers: Mapping[str, str], now: dt.datetime | None = None) -> RateLimitReport:
    """A report from response headers (names lower-case, as the HTTP client gives them)."""
    now = now or clock.now()
    retry_after_at = parse_retry_after(headers.get("retry-after"), now)
    if "x-ratelimit-limit-requests" in headers or "x-ratelimit-remaining-tokens" in headers:
        reset_requests = parse_duration(headers.get("x-ratelimit-reset-requests"))
        reset_tokens = parse_duration(headers.get("x-ratelimit-reset-tokens"))
        return RateLimitReport(
            daily_limit=_int(headers.get("x-ratelimit-limit-requests")),
            daily_remaining=_int(headers.get("x-ratelimit-remaining-requests")),
            daily_reset_at=now + dt.timedelta(seconds=reset_requests)
            if reset_requests is not None
            else None,
            minute_exhausted=_int(headers.get("x-ratelimit-remaining-tokens")) == 0,
            minute_reset_at=now + dt.timedelta(seconds=reset_tokens)
            if reset_tokens is not None
            else None,
            retry_after_at=retry_after_at,
        )
    if "x-ratelimit-limit" in headers or "x-ratelimit-reset" in headers:
        reset_at = _epoch(headers.get("x-ratelimit-reset"))
        limit = _int(headers.get("x-ratelimit-limit"))
        remaining = _int(headers.get("x-ratelimit-remaining"))
        if reset_at is not None and reset_at - now > DAILY_WINDOW_THRESHOLD:
            return RateLimitReport(
                daily_limit=limit,
                daily_remaining=remaining,
                daily_reset_at=reset_at,
                retry_after_at=retry_after_at,
            )
        return RateLimitReport(
            minute_exhausted=remaining == 0,
            minute_reset_at=reset_at,
            retry_after_at=retry_after_at,
        )
    return RateLimitReport(retry_after_at=retry_after_at)


def cooldown_after_429(
    report: RateLimitReport, now: dt.datetime, default_seconds: float
) -> Cooldown:
    """How long a provider that answered 429 rests for this tenant, and why.

    A spent daily allowance rests until the daily reset (OpenRouter's UTC midnight when
    the provider does not say); otherwise until the latest of Retry-After and the
    per-minute reset, or ``default_seconds`` when the provider gives no hint.
    """
    if report.daily_remaining == 0:
        until = report.daily_reset_at or clock.next_utc_midnight(now)
        if report.retry_after_at and report.retry_after_at > until:
            until = report.retry_after_at
        return Cooldown(until, "daily", "daily request limit reached")
    hints = [t for t in (report.retry_after_at, report.minute_reset_at) if t is not None]
    until = max(hints) if hints else now + dt.timedelta(seconds=default_seconds)
    until = max(until, now + dt.timedelta(seconds=1))
    kind = "daily" if until - now > DAILY_WINDOW_THRESHOLD else "minute"
    reason = "daily limit reached" if kind == "daily" else "rate limited"
    return Cooldown(until, kind, reason)


def breaker_cooldown(failures: int, now: dt.datetime) -> Cooldown | None:
    """The circuit breaker: after ``LLM_BREAKER_FAILURES`` timeouts, 5xx or connection errors
    in a row, rest the provider for ``LLM_BREAKER_BASE_SECONDS``, doubling with each further
    failure up to ``LLM_BREAKER_MAX_SECONDS``. When the rest ends the next request is the
    probe: a success ends the streak, a failure doubles the rest."""
    from django.conf import settings

    threshold = settings.LLM_BREAKER_FAILURES
    if threshold <= 0 or failures < threshold:
        return None
    seconds = min(
        settings.LLM_BREAKER_BASE_SECONDS * 2 ** min(failures - threshold, 20),
        settings.LLM_BREAKER_MAX_SECONDS,
    )
    return Cooldown(
        now + dt.timedelta(seconds=seconds),
        "minute",
        f"circuit open after {failures} failures in a row",
    )
