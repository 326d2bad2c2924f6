"""Compare the ledger with the organization's own usage and costs, per UTC day and model (pure).

The rule: for each (day, model) the provider's images, requests and USD must lie between what
the ledger surely spent (answered calls) and that plus every in-doubt call (sent, answer lost:
made and billed, or not), USD widened by the tolerance. Anything else is a difference, including
calls of other apps on the same organization or project, which the ledger cannot know about,
unless the provider's side was filtered to the bot's own API key (`by_key`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from bot.money import to_micro_usd, usd4
from bot.provider.organization import CostLine, ImagesUsage
from bot.store.reconcile import LedgerDay

IMAGE_MODEL_PREFIXES = ("gpt-image", "chatgpt-image", "dall-e")
# "<model> <image|text>, <input|cached input|output>" (docs/sources.md#usage-costs)
_LINE_ITEM = re.compile(r"^(?P<model>\S+) (?:image|text), (?:cached )?(?:input|output)$")
_SNAPSHOT = re.compile(r"^(?P<base>.+)-\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far the provider's USD may stray: max(floor, ratio x the ledger's), per day and model.

    Images and requests must match exactly (within the in-doubt range). The USD slack absorbs
    rounding: the ledger rounds each call up to a micro-USD, the provider sums before rounding.
    """

    floor_micro_usd: int = 10_000  # $0.01
    ratio: Decimal = Decimal("0.01")  # 1 %

    def of(self, ledger_micro_usd: int) -> int:
        return max(self.floor_micro_usd, math.ceil(self.ratio * ledger_micro_usd))

    def describe(self) -> str:
        return (
            f"images and requests exact; USD within max(${self.floor_micro_usd / 1e6:.2f}, "
            f"{float(self.ratio * 100):g}%) per day and model; in-doubt calls may or may not "
            "be billed; estimated costs (answers without usage) are upper bounds"
        )


@dataclass(frozen=True, slots=True)
class ProviderDay:
    """The provider's record of one model on one UTC day."""

    day: date
    model: str
    images: int = 0
    requests: int = 0
    micro_usd: int = 0
    # The images came from the costs' own count (quantity_unit "images"), /usage/images having
    # no rows: images are compared, requests cannot be.
    images_from_costs: bool = False


@dataclass(frozen=True, slots=True)
class Line:
    """One (day, model) row of the table, and what differs (empty when they agree)."""

    ledger: LedgerDay
    provider: ProviderDay
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The comparison: its lines, and the provider's spend that is not on image models."""

    lines: tuple[Line, ...]
    tolerance: Tolerance
    usage_reported: bool  # False: /usage/images had no rows at all, so only USD is compared
    by_key: bool = False  # the provider's side is the bot's own API key, not a whole scope
    other_micro_usd: int = 0
    other_line_items: tuple[str, ...] = field(default=())

    @property
    def agrees(self) -> bool:
        return all(not line.problems for line in self.lines)


def canonical_model(name: str, known: Iterable[str]) -> str:
    """`name`, or its base when it is a dated snapshot of a known model (gpt-image-1-2025-04-23)."""
    names = set(known)
    if name in names:
        return name
    match = _SNAPSHOT.match(name)
    if match and match["base"] in names:
        return match["base"]
    return name


def line_item_model(line_item: str | None) -> str | None:
    """The model a costs line item is for ("gpt-image-2 image, output" -> "gpt-image-2")."""
    if not line_item:
        return None
    match = _LINE_ITEM.match(line_item.strip())
    return match["model"] if match else line_item.split(" ", 1)[0]


def is_image_model(model: str, known: Iterable[str]) -> bool:
    return model in set(known) or model.startswith(IMAGE_MODEL_PREFIXES)


def provider_days(
    usage: Sequence[ImagesUsage], costs: Sequence[CostLine], known: Iterable[str]
) -> tuple[list[ProviderDay], int, tuple[str, ...]]:
    """Per (day, model) totals from usage and costs; plus USD and names of non-image items."""
    names = set(known)
    images: dict[tuple[date, str], list[int]] = {}
    for row in usage:
        counts = images.setdefault((row.day, canonical_model(row.model, names)), [0, 0])
        counts[0] += row.images
        counts[1] += row.requests
    usd: dict[tuple[date, str], Decimal] = {}
    counted: dict[tuple[date, str], int] = {}  # images the costs count themselves
    other, other_items = Decimal(0), set()
    for line in costs:
        model = line_item_model(line.line_item)
        model = canonical_model(model, names) if model else None
        if model is None or not is_image_model(model, names):
            other += line.amount_usd
            other_items.add(line.line_item or "(no line item)")
            continue
        usd[(line.day, model)] = usd.get((line.day, model), Decimal(0)) + line.amount_usd
        if line.quantity_unit == "images" and line.quantity is not None:
            # Every line item of an image (input, output) counts the same images: the largest.
            key = (line.day, model)
            counted[key] = max(counted.get(key, 0), int(line.quantity))
    from_costs = not usage
    days = [
        ProviderDay(
            day,
            model,
            images=(
                counted.get((day, model), 0) if from_costs else images.get((day, model), [0, 0])[0]
            ),
            requests=images.get((day, model), [0, 0])[1],
            micro_usd=to_micro_usd(usd.get((day, model), Decimal(0))),
            images_from_costs=from_costs and (day, model) in counted,
        )
        for day, model in sorted(set(images) | set(usd))
    ]
    return days, to_micro_usd(other), tuple(sorted(other_items))


def reconcile(
    ledger: Sequence[LedgerDay],
    usage: Sequence[ImagesUsage],
    costs: Sequence[CostLine],
    *,
    known: Iterable[str],
    tolerance: Tolerance | None = None,
    by_key: bool = False,
) -> Reconciliation:
    """Compare per (day, model); see the module docstring for the rule."""
    tolerance = tolerance or Tolerance()
    names = set(known) | {row.model for row in ledger}
    provided, other, other_items = provider_days(usage, costs, names)
    ours = {(row.day, row.model): row for row in ledger}
    theirs = {(row.day, row.model): row for row in provided}
    lines = []
    for day, model in sorted(set(ours) | set(theirs)):
        mine = ours.get((day, model)) or LedgerDay(day, model, 0, 0, 0)
        seen = theirs.get((day, model)) or ProviderDay(day, model)
        problems = _problems(mine, seen, tolerance, usage_reported=bool(usage))
        lines.append(Line(mine, seen, problems))
    return Reconciliation(tuple(lines), tolerance, bool(usage), by_key, other, other_items)


def _problems(
    mine: LedgerDay, seen: ProviderDay, tolerance: Tolerance, *, usage_reported: bool
) -> tuple[str, ...]:
    problems = []
    if usage_reported or seen.images_from_costs:
        problems += _outside("images", seen.images, mine.images, mine.doubt_images, 0)
    if usage_reported:
        problems += _outside("requests", seen.requests, mine.requests, mine.doubt_requests, 0)
    slack = tolerance.of(mine.micro_usd + mine.doubt_micro_usd)
    # Calls answered without `usage` were charged their estimate, an upper bound of their cost.
    problems += _outside("USD", seen.micro_usd, mine.micro_usd, mine.doubt_micro_usd, slack,
                         below=mine.estimated_micro_usd)  # fmt: skip
    return tuple(problems)


def _outside(
    what: str, theirs: int, sure: int, doubt: int, slack: int, *, below: int = 0
) -> list[str]:
    if sure - below - slack <= theirs <= sure + doubt + slack:
        return []
    if what == "USD":
        shown, ours = usd4(theirs), usd4(sure)
    else:
        shown, ours = str(theirs), str(sure)
    extra = f" (+{usd4(doubt) if what == 'USD' else doubt} in doubt)" if doubt else ""
    return [f"{what}: provider {shown}, ledger {ours}{extra}"]


def render(result: Reconciliation) -> list[str]:
    """The table and its footnotes, as printed by `python -m bot reconcile`."""
    head = ("day", "model", "images bot/org", "requests bot/org", "USD bot/org", "in doubt",
            "status")  # fmt: skip
    rows = [head]
    for line in result.lines:
        mine, seen = line.ledger, line.provider
        doubt = (
            f"{mine.doubt_requests} req, {mine.doubt_images} img, {usd4(mine.doubt_micro_usd)}"
            if mine.doubt_requests
            else "-"
        )
        if mine.estimated_micro_usd:
            doubt = f"{doubt}; {usd4(mine.estimated_micro_usd)} estimated"
        counted = result.usage_reported or seen.images_from_costs
        rows.append((
            mine.day.isoformat(),
            mine.model,
            f"{mine.images}/{seen.images if counted else '?'}",
            f"{mine.requests}/{seen.requests if result.usage_reported else '?'}",
            f"{usd4(mine.micro_usd)}/{usd4(seen.micro_usd)}",
            doubt,
            "ok" if not line.problems else "DIFFERS",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    out = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    if len(rows) == 1:
        out.append("(no image calls on either side)")
    out += _footnotes(result)
    return out


def _footnotes(result: Reconciliation) -> list[str]:
    out = [f"tolerance: {result.tolerance.describe()}"]
    if not result.usage_reported:
        from_costs = any(line.provider.images_from_costs for line in result.lines)
        compared = (
            "images are compared from the costs' own counts (quantity_unit images) where they "
            "give them, requests are not"
            if from_costs
            else "only USD is compared"
        )
        out.append(
            "note: the organization's images usage had no rows at all (reported for GPT Image "
            f"models, which may appear under completions usage instead): {compared}"
        )
    if result.other_micro_usd or result.other_line_items:
        out.append(
            f"not compared: {usd4(result.other_micro_usd)} on other line items "
            f"({', '.join(result.other_line_items[:5])}"
            f"{', ...' if len(result.other_line_items) > 5 else ''})"
        )
    for line in result.lines:
        for problem in line.problems:
            out.append(f"differs: {line.ledger.day.isoformat()} {line.ledger.model}: {problem}")
    if not result.agrees and result.by_key:
        out.append(
            "the provider's side is the bot's own API key: other apps using the same "
            "organization or project are not counted, so these are calls made with the bot's key"
        )
    elif not result.agrees:
        out.append(
            "other apps using the same organization or project show up as differences; give "
            "the bot its own project and set OPENAI_PROJECT"
        )
    return out
