"""The usage ledger's import surface: ``track``, ``flush``, ``tracker_stats``, ``cost_for``.

``track`` records one attempt at one provider and returns at once (see usage/tracker.py);
``settings.USAGE_TRACKER_SYNC = True`` writes inline instead (tests, commands). The heavy
modules load on first use, so importing ``usage`` during app loading touches no models.
``drain_caller_costs`` is for config/metrics.py alone: the sampled cost of ``track()``.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import deque
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

__all__ = ["track", "flush", "tracker_stats", "cost_for", "get_tracker", "drain_caller_costs"]

if TYPE_CHECKING:
    from usage.tracker import Tracker

_tracker: Tracker | None = None
# What track() costs its caller is measured on one call in 64 (config.metrics'
# TRACK_SAMPLE_EVERY): a C-level counter and a mask are all the other 63 pay, and the
# timed one only appends to a bounded deque that the metrics drain when they sync the
# tracker's counters (drain_caller_costs), so bench/usage_caller_cost.py stays where it
# was. A race between threads only shifts the sample.
_calls = itertools.count()
_SAMPLE_MASK = 63
_caller_costs: deque[float] = deque(maxlen=4096)
_tracker_lock = threading.Lock()


def get_tracker() -> Tracker:
    """The process's tracker (created on first use, once even when threads race to it: a
    second tracker would take records that ``flush()`` and the counters never see)."""
    global _tracker
    if _tracker is None:
        with _tracker_lock:
            if _tracker is None:
                from usage.tracker import Tracker as _Tracker

                _tracker = _Tracker()
    return _tracker


def track(
    *,
    tenant_id: uuid.UUID | str,
    provider: str,
    model: str,
    status: str,
    request_id: uuid.UUID,
    attempt: int,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    latency_ms: int = 0,
    error_type: str = "",
    provider_cost: Decimal | None = None,
    created_at: datetime | None = None,
    ttft_ms: int | None = None,
    tokens_estimated: bool = False,
    cached_tokens: int | None = None,
    reasoning_tokens: int | None = None,
) -> None:
    """Record one attempt. Returns at once; never raises; the record is written once.

    status: a name of ``usage.statuses.Status`` ("success", "rate_limited", "timeout",
    "error", "auth_error", "invalid_request", "cancelled"); anything else is stored as
    "error" with error_type "bad_status:...". error_type: a short machine code ("http_503",
    "connect_error", ...). provider_cost: the provider's own figure in USD (OpenRouter's
    usage.cost); it wins over the price table. created_at: when the attempt was made; None
    (or left out) means now, as ``at`` does for ``cost_for``. ttft_ms: for a stream that
    delivered content, ms from the request to its first content (else None).
    tokens_estimated: the provider sent no token figures and the counts are estimates.
    cached_tokens: how many of prompt_tokens the provider read from its prompt cache
    (``prompt_tokens_details.cached_tokens``); reasoning_tokens: how many of
    completion_tokens were reasoning (``completion_tokens_details.reasoning_tokens``). Each
    is priced at its own rate where the price table has one (usage/pricing.py).

    The keywords are the fields of ``usage.records.Record`` (the one definition of a
    record; its id is given later) and the tuple below follows that order.
    """
    timed = not next(_calls) & _SAMPLE_MASK
    if timed:
        began = time.perf_counter()
    raw = (
        time.time() if created_at is None else created_at, tenant_id, request_id, provider,
        model, status, attempt, prompt_tokens, completion_tokens, latency_ms, error_type,
        provider_cost, ttft_ms, tokens_estimated, cached_tokens, reasoning_tokens,
    )
    try:
        tracker = _tracker or get_tracker()
        from django.conf import settings

        if getattr(settings, "USAGE_TRACKER_SYNC", False):
            tracker.write_now(raw)
        else:
            tracker.track(raw)
    except Exception:  # noqa: BLE001 - the contract: never fail the caller
        import logging

        logging.getLogger("usage.tracker").exception("usage: track() failed internally")
    if timed:
        _caller_costs.append(time.perf_counter() - began)


def drain_caller_costs() -> list[float]:
    """The sampled costs of track() to its callers (seconds) since the last drain."""
    drained = []
    while True:
        try:
            drained.append(_caller_costs.popleft())
        except IndexError:
            return drained


def flush(timeout: float | None = None) -> bool:
    """Wait until everything tracked so far is written; False when ``timeout`` ran out."""
    return bool(get_tracker().flush(timeout))


def tracker_stats() -> dict[str, Any]:
    """Counters: written, batches, retried, spilled, dropped, replayed, buffered, last_flush_at."""
    return dict(get_tracker().stats())


def cost_for(
    *,
    provider: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    at: datetime | None = None,
    provider_cost: Decimal | None = None,
    tokens_estimated: bool = False,
    tenant_id: uuid.UUID | str | None = None,
    cached_tokens: int | None = 0,
    reasoning_tokens: int | None = 0,
) -> tuple[Decimal | None, str]:
    """(cost in USD as Decimal or None, source "provider" | "price_table" | "unknown").

    ``at``: when the request was made; None (or left out) means now, as ``created_at``
    does for ``track``. Estimated token counts cost None unless the provider reported a
    cost. ``tenant_id``: whose request it is (that tenant's own price, if one is in force
    at ``at``, replaces the list price). ``cached_tokens`` and ``reasoning_tokens`` (parts
    of prompt_tokens and completion_tokens) are priced at their own rates (usage/pricing.py).
    """
    from usage.pricing import cost_for as _cost_for

    return _cost_for(
        provider=provider,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        at=at,
        provider_cost=provider_cost,
        tokens_estimated=tokens_estimated,
        tenant_id=tenant_id,
        cached_tokens=cached_tokens,
        reasoning_tokens=reasoning_tokens,
    )
