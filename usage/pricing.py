"""What a request cost: the price in force at its time x its tokens, class by class.

The one place costs are computed (the writer, routing's result, the re-price command and
budgets all come here). The rule:

1. A cost the provider reported (OpenRouter's ``usage.cost``, see
   llm_routing/outcomes.py for bring-your-own-key requests) wins: ``CostSource.PROVIDER``.
2. Token counts that are estimates cost unknown (None), never a price times a guess.
3. Otherwise the price in force at the attempt's time: the tenant's own (``TenantPrice``)
   if one has started for that model, else the list price (``Price``); none: unknown.
   Cost = (prompt - cached) x input + cached x cached-input + (completion - reasoning) x
   output + reasoning x reasoning price, where an empty cached-input price is the input
   price and an empty reasoning price the output price.

Prices are few, so each process keeps them all in memory and reloads them every
PRICE_CACHE_SECONDS (and at once after a price is saved in this process). Costs are exact:
prices have at most 6 decimals per million tokens, so a cost is a whole number of
pico-dollars (1e-12 USD), which is how rows store it.
"""

from __future__ import annotations

import bisect
import threading
import time
import uuid
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from django.db import connections
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from usage.models import CostSource, Price, TenantPrice, pico_to_usd

PRICE_CACHE_SECONDS = 60.0
# A cost must fit the bigint column: 9.2 million USD per attempt. Beyond that it is garbage.
MAX_PICO = 2**63 - 1
_PICO_PER_USD = Decimal(10**12)


class PriceTable(dict):
    """List prices: (provider, model) -> ([start timestamps, ascending], [PerToken, ...]);
    ``overrides`` holds tenants' own prices the same way under (tenant id, provider, model),
    and ``tenants`` the ids that have any (one set lookup per row for everyone else)."""

    def __init__(self, prices: dict, overrides: dict) -> None:
        super().__init__(prices)
        self.overrides = overrides
        self.tenants = frozenset(tenant for tenant, _, _ in overrides)


PerToken = tuple[int, int, int, int]
"""(input, output, cached input, reasoning) pico-dollars per token, a price's empty classes
already filled in (cached input at the input price, reasoning at the output price)."""


def _per_token(p) -> PerToken:
    # USD per million tokens x 1e12 / 1e6 = pico-dollars per token (exact: 6 decimals).
    inp = int(p.input_per_million * 1_000_000)
    out = int(p.output_per_million * 1_000_000)
    cached = p.cached_input_per_million
    reasoning = p.reasoning_per_million
    return (
        inp,
        out,
        inp if cached is None else int(cached * 1_000_000),
        out if reasoning is None else int(reasoning * 1_000_000),
    )


def _timeline(rows) -> dict:
    """key -> (starts, prices) from (key, price row) pairs in effective_from order."""
    table: dict = {}
    for key, p in rows:
        starts, prices = table.setdefault(key, ([], []))
        starts.append(p.effective_from.timestamp())
        prices.append(_per_token(p))
    return table


class _PriceBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded_at = -1e18
        self._prices = PriceTable({}, {})

    def invalidate(self) -> None:
        self._loaded_at = -1e18

    def load(self, using: str = "default") -> PriceTable:
        """Every price as it is in the database now (commands that must not use a cache)."""
        listed = Price.objects.using(using).order_by("effective_from")
        own = TenantPrice.objects.using(using).order_by("effective_from")
        return PriceTable(
            _timeline(((p.provider, p.model), p) for p in listed),
            _timeline(((p.tenant_id, p.provider, p.model), p) for p in own),
        )

    def _load(self, using: str) -> None:
        self._prices = self.load(using)
        # Prices read inside a transaction may vanish with its rollback: use them once only.
        self._loaded_at = -1e18 if connections[using].in_atomic_block else time.monotonic()

    def fresh(self) -> bool:
        """Whether ``table()`` would answer from memory, without reading the database."""
        return time.monotonic() - self._loaded_at <= PRICE_CACHE_SECONDS

    def table(self, using: str = "default") -> PriceTable:
        """All prices (a PriceTable), reloaded every PRICE_CACHE_SECONDS."""
        if time.monotonic() - self._loaded_at > PRICE_CACHE_SECONDS:
            with self._lock:
                self._load(using)
        return self._prices


def _in_force(entry, at: datetime) -> PerToken | None:
    if entry is None:
        return None
    starts, prices = entry
    index = bisect.bisect_right(starts, at.timestamp()) - 1
    return prices[index] if index >= 0 else None


def price_at(
    table: dict, key: tuple[str, str], at: datetime, tenant_id: uuid.UUID | None = None
) -> PerToken | None:
    """Pico-dollars per token of each class (``PerToken``) for (provider, model) at ``at``,
    or None. A price of ``tenant_id``'s own in force at ``at`` wins over the list price."""
    if tenant_id is not None and isinstance(table, PriceTable) and tenant_id in table.tenants:
        own = _in_force(table.overrides.get((tenant_id, *key)), at)
        if own is not None:
            return own
    return _in_force(table.get(key), at)


def priced(
    price: PerToken, prompt_tokens: int, completion_tokens: int, cached_tokens: int,
    reasoning_tokens: int,
) -> int:
    """Pico-dollars of one attempt's tokens at ``price``, each class at its own rate.

    Cached tokens are part of prompt_tokens and reasoning tokens part of completion_tokens
    (OpenAI's and OpenRouter's convention: ``completion_tokens`` includes the reasoning),
    so each is taken out of its total and priced apart; a class larger than its total
    (garbage) is cut to it.
    """
    cached = min(cached_tokens, prompt_tokens)
    reasoning = min(reasoning_tokens, completion_tokens)
    return (
        (prompt_tokens - cached) * price[0]
        + cached * price[2]
        + (completion_tokens - reasoning) * price[1]
        + reasoning * price[3]
    )


price_book = _PriceBook()


@receiver(post_save, sender=Price)
@receiver(post_delete, sender=Price)
@receiver(post_save, sender=TenantPrice)
@receiver(post_delete, sender=TenantPrice)
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
    tenant_id: uuid.UUID | None = None,
    cached_tokens: int | None = 0,
    reasoning_tokens: int | None = 0,
) -> tuple[int | None, int]:
    """(cost in pico-dollars or None, CostSource code) for one attempt.

    ``tokens_estimated``: the counts are estimates (no figures from the provider), and a
    price times an estimate is not a cost: unknown, unless the provider reported one.
    ``table``: a ``price_book.table()`` taken once for a batch (default: fetched here).
    ``tenant_id``: whose attempt it is; that tenant's own price, where one is in force at
    ``at``, replaces the list price. ``cached_tokens`` (of prompt_tokens) and
    ``reasoning_tokens`` (of completion_tokens) are priced at their own rates (``priced``);
    None means none.
    """
    reported = provider_cost_to_pico(provider_cost)
    if reported is not None:
        return reported, CostSource.PROVIDER
    if tokens_estimated:
        return None, CostSource.UNKNOWN
    price = price_at(
        table if table is not None else price_book.table(), (provider, model), at, tenant_id
    )
    cost = None if price is None else priced(
        price, prompt_tokens, completion_tokens, cached_tokens or 0, reasoning_tokens or 0
    )
    if cost is None or cost > MAX_PICO:
        return None, CostSource.UNKNOWN
    return cost, CostSource.PRICE_TABLE


def worst_case_pico(
    *,
    provider: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    at: datetime,
    tenant_id: uuid.UUID | None = None,
    table: dict | None = None,
) -> int | None:
    """The most ``prompt_tokens`` and ``completion_tokens`` can cost at the price in force
    (the tenant's own or the list price), whatever part of them turns out cached or
    reasoning: each side at the dearer of its two rates. None: no price (budgets use an
    estimate then)."""
    price = price_at(
        table if table is not None else price_book.table(), (provider, model), at, tenant_id
    )
    if price is None:
        return None
    cost = prompt_tokens * max(price[0], price[2]) + completion_tokens * max(price[1], price[3])
    return cost if cost <= MAX_PICO else None


def cost_for(
    *,
    provider: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    at: datetime | None = None,
    provider_cost=None,
    tokens_estimated: bool = False,
    tenant_id: uuid.UUID | str | None = None,
    cached_tokens: int | None = 0,
    reasoning_tokens: int | None = 0,
) -> tuple[Decimal | None, str]:
    """Cost in USD and where it came from: "provider", "price_table" or "unknown".

    A provider-reported cost wins when given; otherwise the price in force at ``at`` (None:
    now, the same rule as ``track(created_at=None)``): ``tenant_id``'s own price if one is
    in force then, else the list price, each token class at its rate (``cost_pico``). A
    model without a price at that time, or token counts that are estimates, cost None
    (unknown), never 0.
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
        tenant_id=_tenant_uuid(tenant_id),
        cached_tokens=_count(cached_tokens),
        reasoning_tokens=_count(reasoning_tokens),
    )
    return pico_to_usd(pico), CostSource(source).label


def _count(value) -> int:
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError, OverflowError):
        return 0


def _tenant_uuid(value) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
