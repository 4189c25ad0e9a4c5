"""The router's idea of "now", injectable so tests move time instead of sleeping.

Cooldowns, quota windows and cache ages read ``clock.now()``; latency is measured with
``time.perf_counter`` and is not affected. Tests install a ``ManualClock`` with
``use_clock`` (the ``routing_clock`` fixture does it) and advance it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator

UTC = dt.UTC
_source: Callable[[], dt.datetime] | None = None


def now() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    if _source is not None:
        return _source()
    return dt.datetime.now(UTC)


def next_utc_midnight(at: dt.datetime) -> dt.datetime:
    day = at.astimezone(UTC).date() + dt.timedelta(days=1)
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC)


class ManualClock:
    """A clock that only moves when told to. Thread-safe."""

    def __init__(self, start: dt.datetime | None = None):
        self._at = start or dt.datetime.now(UTC)
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self._at

    def advance(self, seconds: float) -> dt.datetime:
        with self._lock:
            self._at += dt.timedelta(seconds=seconds)
            return self._at

    def set(self, at: dt.datetime) -> None:
        with self._lock:
            self._at = at


def sleep(seconds: float) -> None:
    """Wait ``seconds`` (a retry's back-off); under a ManualClock, move it instead."""
    if isinstance(_source, ManualClock):
        _source.advance(seconds)
    elif seconds > 0:
        time.sleep(seconds)


async def asleep(seconds: float) -> None:
    """The async twin of ``sleep``."""
    if isinstance(_source, ManualClock):
        _source.advance(seconds)
    elif seconds > 0:
        await asyncio.sleep(seconds)


@contextlib.contextmanager
def use_clock(source: Callable[[], dt.datetime]) -> Iterator[Callable[[], dt.datetime]]:
    global _source
    previous, _source = _source, source
    try:
        yield source
    finally:
        _source = previous
