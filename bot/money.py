"""Money: integer micro-USD from dollar amounts, and micro-USD as text for people and files."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

MICRO_PER_USD = 1_000_000


def to_micro_usd(usd: Decimal | float | int) -> int:
    """Dollars to integer micro-USD, rounded half up (away from zero).

    A float counts as the decimal it prints as (a moderator's 0.1 is 100_000, not the binary
    0.1000000000000000055...); a Decimal (the provider's costs) is taken exactly.
    """
    exact = usd if isinstance(usd, Decimal) else Decimal(str(usd))
    return int((exact * MICRO_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_usd(micro_usd: int) -> str:
    """Dollars for people: "$1,234.57" from a dollar up, more decimals below ("$0.0109").

    Under a dollar, four decimals (six under a hundredth of a cent) with trailing zeros
    dropped down to two, so a single cheap image never reads as "$0.01" or "$0.00".
    """
    sign = "-" if micro_usd < 0 else ""
    amount = abs(micro_usd)
    places = 2 if amount >= MICRO_PER_USD or amount == 0 else 4 if amount >= 100 else 6
    quant = Decimal(1).scaleb(-places)
    dollars = (Decimal(amount) / MICRO_PER_USD).quantize(quant, rounding=ROUND_HALF_UP)
    text = f"{dollars:,.{places}f}"
    if places > 2:
        text = text.rstrip("0")
        text += "0" * max(0, 2 - len(text.partition(".")[2]))
    return f"{sign}${text}"


def usd6(micro_usd: int) -> str:
    """Exact USD with 6 decimals, for files: 10900 -> "0.010900"."""
    sign = "-" if micro_usd < 0 else ""
    whole, frac = divmod(abs(micro_usd), MICRO_PER_USD)
    return f"{sign}{whole}.{frac:06d}"


def usd4(micro_usd: int) -> str:
    """Dollars with four decimals and thousands separators, for tables: "$1,234.5678"."""
    return f"${micro_usd / MICRO_PER_USD:,.4f}"
