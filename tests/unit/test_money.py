"""Money helpers: dollars to micro-USD one way for every caller, and micro-USD as text."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.money import format_usd, to_micro_usd, usd4, usd6


# Moved from tests/unit/test_usage.py.
@pytest.mark.parametrize(
    ("micro_usd", "text"),
    [
        (0, "$0.00"),
        (1_230_000, "$1.23"),
        (1_234_567_890, "$1,234.57"),
        (250_000, "$0.25"),
        (10_900, "$0.0109"),
        (11_000, "$0.011"),
        (100, "$0.0001"),
        (99, "$0.000099"),
        (5, "$0.000005"),
        (999_999, "$1.00"),
        (-2_500_000, "-$2.50"),
    ],
)
def test_format_usd(micro_usd: int, text: str) -> None:
    assert format_usd(micro_usd) == text


# Moved from tests/unit/test_export.py.
def test_usd6_is_exact() -> None:
    assert usd6(0) == "0.000000"
    assert usd6(10_900) == "0.010900"
    assert usd6(123_456_789) == "123.456789"
    assert usd6(-5) == "-0.000005"


# Moved from tests/unit/test_reconcile.py.
def test_long_decimal_amounts_become_exact_micro_usd() -> None:
    assert to_micro_usd(Decimal("0.0001050000000000000000000000000000000")) == 105
    assert to_micro_usd(Decimal("0.0000004999")) == 0
    assert to_micro_usd(Decimal("0.0000005")) == 1


def test_a_typed_amount_counts_as_the_decimal_it_reads_as() -> None:
    # 1.0000005 is stored as 1.00000049999999996...: taken as binary it would round down.
    assert to_micro_usd(1.0000005) == 1_000_001
    assert to_micro_usd(0.1) == 100_000
    assert to_micro_usd(2.5) == 2_500_000
    assert to_micro_usd(5) == 5_000_000


def test_a_float_and_the_same_decimal_give_the_same_micro_usd() -> None:
    for text in ("0.0000005", "0.0000004999", "19.99", "1234.567891", "0"):
        assert to_micro_usd(float(text)) == to_micro_usd(Decimal(text))


def test_halves_round_away_from_zero() -> None:
    assert to_micro_usd(Decimal("0.0000015")) == 2
    assert to_micro_usd(Decimal("-0.0000005")) == -1
    assert to_micro_usd(Decimal("-0.0000004")) == 0


def test_usd4_shows_four_decimals_with_separators() -> None:
    assert usd4(1_234_567_800) == "$1,234.5678"
    assert usd4(0) == "$0.0000"
    assert usd4(105) == "$0.0001"
