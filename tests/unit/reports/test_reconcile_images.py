"""Costs that count images (quantity_unit "images") stand in for an empty /usage/images."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bot.provider.organization import CostLine
from bot.reports.reconcile import reconcile, render
from bot.store.reconcile import LedgerDay

DAY = date(2026, 12, 5)
KNOWN = ("gpt-image-2", "gpt-image-2.6-sunburst")


def ledger(images: int) -> LedgerDay:
    return LedgerDay(DAY, "gpt-image-2.6-sunburst", 1, images, 80_000)


def costs(images: int | None, unit: str) -> list[CostLine]:
    quantity = None if images is None else Decimal(images)
    return [
        CostLine(DAY, "gpt-image-2.6-sunburst image, output", Decimal("0.07"), quantity, unit),
        CostLine(DAY, "gpt-image-2.6-sunburst text, input", Decimal("0.01"), quantity, unit),
    ]


def test_images_counted_by_the_costs_are_compared_without_usage_rows() -> None:
    agreeing = reconcile([ledger(2)], [], costs(2, "images"), known=KNOWN)
    assert agreeing.agrees and "2/2" in "\n".join(render(agreeing))
    differing = reconcile([ledger(2)], [], costs(3, "images"), known=KNOWN)
    [line] = differing.lines
    assert line.problems == ("images: provider 3, ledger 2",)


def test_costs_in_tokens_leave_images_uncompared() -> None:
    result = reconcile([ledger(2)], [], costs(5000, "tokens"), known=KNOWN)
    assert result.agrees and "2/?" in "\n".join(render(result))
