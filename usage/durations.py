"""Parsing '90d' / '12h' / '30m' and ISO times for the usage commands."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.core.management.base import CommandError
from django.utils import timezone

_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d{1,6})\s*([dhm]?)\s*", text or "")
    if not match:
        raise CommandError(f"{text!r} is not a duration like 90d, 12h or 30m.")
    return timedelta(**{_UNITS[match.group(2) or "d"]: int(match.group(1))})


def parse_since(text: str) -> datetime:
    """An ISO date/time (UTC unless it says otherwise) or a duration back from now."""
    try:
        return timezone.now() - parse_duration(text)
    except CommandError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(
            f"--since {text!r}: give an ISO date or time (2025-06-01, 2025-06-01T12:00) "
            "or a duration back from now (48h, 7d)."
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
