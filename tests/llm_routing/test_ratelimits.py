import datetime as dt

import pytest

from llm_routing import ratelimits

NOW = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2m59.56s", 179.56), ("7.66s", 7.66), ("450ms", 0.45), ("1h2m3s", 3723), ("12", 12)],
)
def test_groq_durations_are_read(text, seconds):
    assert ratelimits.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "2x", "-5", "1m-3s"])
def test_malformed_durations_are_ignored(text):
    assert ratelimits.parse_duration(text) is None


def test_retry_after_in_seconds_or_as_an_http_date():
    assert ratelimits.parse_retry_after("20", NOW) == NOW + dt.timedelta(seconds=20)
    date = "Mon, 04 May 2026 12:05:00 GMT"
    assert ratelimits.parse_retry_after(date, NOW) == NOW + dt.timedelta(minutes=5)
    assert ratelimits.parse_retry_after("yesterday", NOW) is None


def test_groq_headers_give_the_daily_request_window_and_token_minute():
    report = ratelimits.parse_headers(
        {
            "x-ratelimit-limit-requests": "14400",
            "x-ratelimit-remaining-requests": "14370",
            "x-ratelimit-reset-requests": "2m59.56s",
            "x-ratelimit-limit-tokens": "6000",
            "x-ratelimit-remaining-tokens": "0",
            "x-ratelimit-reset-tokens": "7.66s",
        },
        NOW,
    )
    assert (report.daily_limit, report.daily_used) == (14400, 30)
    assert report.daily_reset_at == NOW + dt.timedelta(seconds=179.56)
    assert report.minute_exhausted
    assert report.minute_reset_at == NOW + dt.timedelta(seconds=7.66)


def test_openrouter_reset_far_away_is_a_daily_limit_and_near_is_a_minute_limit():
    midnight = dt.datetime(2026, 5, 5, tzinfo=dt.UTC)
    daily = ratelimits.parse_headers(
        {"x-ratelimit-limit": "50", "x-ratelimit-remaining": "0",
         "x-ratelimit-reset": str(int(midnight.timestamp() * 1000))},
        NOW,
    )
    assert (daily.daily_limit, daily.daily_remaining, daily.daily_reset_at) == (50, 0, midnight)
    soon = NOW + dt.timedelta(seconds=40)
    minute = ratelimits.parse_headers(
        {"x-ratelimit-limit": "20", "x-ratelimit-remaining": "0",
         "x-ratelimit-reset": str(int(soon.timestamp() * 1000))},
        NOW,
    )
    assert minute.daily_limit is None and minute.minute_reset_at == soon


def test_a_spent_daily_allowance_cools_down_until_the_daily_reset():
    report = ratelimits.RateLimitReport(
        daily_limit=10, daily_remaining=0, daily_reset_at=NOW + dt.timedelta(hours=3),
        retry_after_at=NOW + dt.timedelta(seconds=30),
    )
    cooldown = ratelimits.cooldown_after_429(report, NOW, 30)
    assert (cooldown.until, cooldown.kind) == (NOW + dt.timedelta(hours=3), "daily")


def test_a_daily_cap_without_a_reset_cools_down_until_utc_midnight():
    report = ratelimits.RateLimitReport(daily_limit=50, daily_remaining=0)
    cooldown = ratelimits.cooldown_after_429(report, NOW, 30)
    assert cooldown.until == dt.datetime(2026, 5, 5, tzinfo=dt.UTC)


def test_a_per_minute_limit_cools_down_until_the_later_hint():
    report = ratelimits.RateLimitReport(
        minute_exhausted=True,
        minute_reset_at=NOW + dt.timedelta(seconds=8),
        retry_after_at=NOW + dt.timedelta(seconds=20),
    )
    cooldown = ratelimits.cooldown_after_429(report, NOW, 30)
    assert (cooldown.until, cooldown.kind) == (NOW + dt.timedelta(seconds=20), "minute")


def test_a_429_without_hints_rests_for_the_default():
    cooldown = ratelimits.cooldown_after_429(ratelimits.RateLimitReport(), NOW, 45)
    assert cooldown.until == NOW + dt.timedelta(seconds=45)
