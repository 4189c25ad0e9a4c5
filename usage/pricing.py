"""What a request cost: the price in force at its time x its tokens.

Prices are few, so each process keeps them all in memory and reloads them every
PRICE_CACHE_SECONDS (and at once after a Price is saved in this process). Costs are exact:
prices have at most 6 decimals per million tokens, so a cost is a whole number of
pico-dollars (1e-12 USD), which is how rows store it.
"""

from __future__ import annotations

import bisect
import threading
import time
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from django.db import connections
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from usage.models import CostSource, Price, pico_to_usd

PRICE_CACHE_SECONDS = 60.0
# A cost must fit the bigint column: 9.2 million USD per attempt. Beyond that it is garbage.
MAX_PICO = 2**63 - 1
_PICO_PER_USD = Decimal(10**12)


class _PriceBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded_at = -1e18
        # (provider, model) -> ([effective_from timestamps, ascending], [(in, out) pico/token])
        self._prices: dict[tuple[str, str], tuple[list[float], list[tuple[int, int]]]] = {}

    def invalidate(self) -> None:
        self._loaded_at = -1e18

    def _load(self, using: str) -> None:
        table: dict[tuple[str, str], list[tuple[float, int, int]]] = {}
        for p in Price.objects.using(using).order_by("effective_from"):
            # USD per million tokens x 1e12 / 1e6 = pico-dollars per token (exact: 6 decimals).
            table.setdefault((p.provider, p.model), []).append(
                (
                    p.effective_from.timestamp(),
                    int(p.input_per_million * 1_000_000),
                    int(p.output_per_million * 1_000_000),
                )
            )
        self._prices = {
            key: ([t for t, _, _ in rows], [(i, o) for _, i, o in rows])
            for key, rows in table.items()
        }
        # Prices read inside a transaction may vanish with its rollback: use them once only.
        self._loaded_at = -1e18 if connections[using].in_atomic_block else time.monotonic()

    def table(self, using: str = "default") -> dict:
        """All prices: (provider, model) -> (start timestamps, (in, out) pico per token)."""
        if time.monotonic() - self._loaded_at > PRICE_CACHE_SECONDS:
            with self._lock:
                self._load(using)
        return self._prices


def price_at(table: dict, key: tuple[str, str], at: datetime) -> tuple[int, int] | None:
    """(input, output) pico-dollars per token for (provider, model) at ``at``, or None."""
    entry = table.get(key)
    if entry is None:
        return None
    starts, prices = entry
    index = bisect.bisect_right(starts, at.timestamp()) - 1
    return prices[index] if index >= 0 else None


price_book = _PriceBook()


@receiver(post_save, sender=Price)
@receiver(post_delete, sender=Price)
def _price_changed(**kwargs) -> None:
    price_book.invalidate()


def provider_cost_to_pico(value) -> int | None:
    """A provider-reported cost in USD (Decimal, str, float) as pico-dollars; None if unusable."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    if not amount.is_finite() or amount < 0:
        return None
    pico = int((amount * _PICO_PER_USD).to_integral_value(rounding=ROUND_HALF_EVEN))
    return pico if pico <= MAX_PICO else None


def cost_pico(
    *,
    provider: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    at: datetime,
    provider_cost=None,
    tokens_estimated: bool = False,
    table: dict | None = None,
) -> tuple[int | None, int]:
    """(cost in pico-dollars or None, CostSource code) for one attempt.

    ``tokens_estimated``: the counts are estimates (no figures from the provider), and a
    price times an estimate is not a cost: unknown, unless the provider reported one.
    ``table``: a ``price_book.table()`` taken once for a batch (default: fetched here).
    """
    reported = provider_cost_to_pico(provider_cost)
    if reported is not None:
        return reported, CostSource.PROVIDER
    if tokens_estimated:
        return None, CostSource.UNKNOWN
    price = price_at(table if table is not None else price_book.table(), (provider, model), at)
    cost = None if price is None else prompt_tokens * price[0] + completion_tokens * price[1]
    if cost is None or cost > MAX_PICO:
        return None, CostSource.UNKNOWN
    return cost, CostSource.PRICE_TABLE


def cost_for(
    *,
    provider: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    at: datetime | None = None,
    provider_cost=None,
    tokens_estimated: bool = False,
) -> tuple[Decimal | None, str]:
    """Cost in USD and where it came from: "provider", "price_table" or "unknown".

    A provider-reported cost wins when given; otherwise the price in force at ``at`` (None:
    now, the same rule as ``track(created_at=None)``); a model without a price at that time,
    or token counts that are estimates, cost None (unknown), never 0.
    """
    if at is None:
        at = timezone.now()
    pico, source = cost_pico(
        provider=provider,
        model=model,
        prompt_tokens=max(int(prompt_tokens), 0),
        completion_tokens=max(int(completion_tokens), 0),
        at=at,
        provider_cost=provider_cost,
        tokens_estimated=tokens_estimated,
    )
    return pico_to_usd(pico), CostSource(source).label
