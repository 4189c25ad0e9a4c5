"""How a cost in USD is shown to people: the one formatting rule for commands, admin pages,
the operator screens and their charts' text.

At least cents and at least four significant digits, so a known cost that is not zero
never reads as a rounded zero ($0.00000045 is not $0.000000); trailing zeros beyond the
cents go. An unknown cost (None) says so; it is never shown as $0. Exact figures stay
available where machines read them (the ledger's columns, the screens' ``data-value``).
The dashboard's chart code (static/screens/charts.js, ``format``) keeps three significant
digits below a cent the same way.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

SIGNIFICANT_DIGITS = 4
UNKNOWN = "unknown"


def format_usd(value: Decimal | float | int | str | None) -> str:
    """``$0.00000045``, ``$0.002069``, ``$0.50``, ``$1.235``, ``$1234.57``, ``$0``, or
    ``unknown`` for None (or anything that is not a finite number)."""
    if value is None or isinstance(value, bool):
        return UNKNOWN
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return UNKNOWN
    if not amount.is_finite():
        return UNKNOWN
    if amount == 0:
        return "$0"
    sign, amount = ("-" if amount < 0 else ""), abs(amount)
    places = max(2, SIGNIFICANT_DIGITS - 1 - amount.adjusted())
    with localcontext() as context:
        context.prec = 80
        text = f"{amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
    whole, _, fraction = text.partition(".")
    return f"{sign}${whole}.{fraction.rstrip('0').ljust(2, '0')}"


PICO_PER_USD = 10**12


def usd_from_pico(value: int) -> Decimal:
    """Pico-dollars (the budgets' integer unit) as an exact USD Decimal."""
    return Decimal(int(value)).scaleb(-12).normalize()
