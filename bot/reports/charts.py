"""The /usage chart: spend bars and an images line per day, as a PNG (matplotlib, Agg).

Only matplotlib's object-oriented API is used (a Figure with its own Agg canvas, never pyplot's
global state), so charts can render concurrently in worker threads (asyncio.to_thread).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import (
    AutoDateLocator,
    ConciseDateFormatter,
    DayLocator,
    date2num,
    num2date,
)
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bot.money import MICRO_PER_USD
from bot.store.usage import DailyUsage

# A light card with dark text reads on both of Discord's themes; the thin border keeps its edge
# visible on the light one. Blue bars and an orange line stay distinct for colour-blind readers.
CARD = "#F7F8FA"
BORDER = "#C9CDD4"
INK = "#2E3338"
MUTED = "#5C6370"
GRID = "#DDE1E6"
SPEND = "#5865F2"
IMAGES = "#E8710A"
WIDTH_IN, HEIGHT_IN, DPI = 8.0, 4.2, 150  # 1200 x 630 px: still sharp when Discord halves it
_MARKERS_UP_TO_DAYS = 45
_DAY_TICKS_UP_TO = 10
_MONTH_DAY_LABELS_UP_TO = 92  # "Mar 8"; longer series get months and years


def render_usage_chart(days: Sequence[DailyUsage], *, title: str, subtitle: str = "") -> bytes:
    """A PNG of spend (bars, USD, left axis) and images (line, right axis) per UTC day."""
    fig = Figure(
        figsize=(WIDTH_IN, HEIGHT_IN),
        dpi=DPI,
        facecolor=CARD,
        edgecolor=BORDER,
        # Constrained layout makes room for the titles, the legend and the tick labels.
        layout=ConstrainedLayoutEngine(w_pad=0.15, h_pad=0.1),
    )
    fig.patch.set_linewidth(2)
    FigureCanvasAgg(fig)
    spend_ax = fig.add_subplot()
    images_ax = spend_ax.twinx()
    # matplotlib's date numbers (days, floats): date arithmetic would drop fractions of a day.
    dates = [float(x) for x in date2num([d.day for d in days])]  # type: ignore[no-untyped-call]
    spend = [d.spend_micro_usd / MICRO_PER_USD for d in days]
    images = [d.images for d in days]
    _draw(spend_ax, images_ax, dates, spend, images)
    _style_axes(spend_ax, images_ax, max(spend, default=0.0), max(images, default=0))
    _frame_dates(spend_ax, dates)
    if not any(spend) and not any(images):
        spend_ax.text(
            0.5,
            0.5,
            "No usage in this period",
            transform=spend_ax.transAxes,
            ha="center",
            va="center",
            fontsize=13,
            color=MUTED,
        )
    _titles(fig, spend_ax, images_ax, title, subtitle)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor=CARD, edgecolor=BORDER)
    return buffer.getvalue()


def _draw(
    spend_ax: Axes, images_ax: Axes, dates: list[float], spend: list[float], images: list[int]
) -> None:
    # Markers and gaps between bars help up to a month or so; beyond, they only add noise.
    short = len(dates) <= _MARKERS_UP_TO_DAYS
    spend_ax.bar(
        dates, spend, width=0.7 if short else 1.0, color=SPEND, label="Spend (USD)", zorder=2
    )
    images_ax.plot(
        dates,
        images,
        color=IMAGES,
        linewidth=2.2 if short else 1.2,
        marker="o" if short else "",
        markersize=4,
        label="Images",
        zorder=3,
    )
    # The line's axis is drawn over the bars' one; keep the bars' grid underneath both.
    spend_ax.set_zorder(images_ax.get_zorder() - 1)
    spend_ax.patch.set_visible(False)


def _style_axes(spend_ax: Axes, images_ax: Axes, max_spend: float, max_images: int) -> None:
    decimals = _usd_decimals(max_spend)
    spend_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"${v:,.{decimals}f}"))
    images_ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    spend_ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    spend_ax.set_ylim(0, max_spend * 1.15 or 1.0)
    images_ax.set_ylim(0, max_images * 1.15 or 1.0)
    spend_ax.grid(axis="y", color=GRID, linewidth=0.8, zorder=0)
    spend_ax.set_ylabel("Spend (USD)", color=SPEND, fontsize=11)
    images_ax.set_ylabel("Images", color=IMAGES, fontsize=11)
    for ax in (spend_ax, images_ax):
        ax.tick_params(colors=INK, labelsize=10, length=0, pad=6)
        for side, spine in ax.spines.items():
            spine.set_visible(side == "bottom")
            spine.set_color(BORDER)


def _usd_decimals(max_spend: float) -> int:
    """Enough decimals that the spend axis's ticks differ: 0 from $10, 2 from $0.10, more below."""
    if max_spend >= 10:
        return 0
    if max_spend <= 0:
        return 2
    return max(2, 1 - math.floor(math.log10(max_spend)))


def _frame_dates(ax: Axes, dates: list[float]) -> None:
    # matplotlib.dates is untyped, hence the ignores.
    if len(dates) <= _DAY_TICKS_UP_TO:
        # Whole days only: left alone, the locator labels hours on a one-day chart.
        ax.xaxis.set_major_locator(DayLocator())  # type: ignore[no-untyped-call]
    else:
        ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=8))  # type: ignore[no-untyped-call]
    if len(dates) <= _MONTH_DAY_LABELS_UP_TO:
        ax.xaxis.set_major_formatter(FuncFormatter(_month_day))
    else:
        locator = ax.xaxis.get_major_locator()
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.xaxis.get_offset_text().set_color(MUTED)
    if dates:
        ax.set_xlim(dates[0] - 0.8, dates[-1] + 0.8)


def _month_day(x: float, _pos: object) -> str:
    """ "Mar 8" (strftime's "%-d" is not portable)."""
    day = num2date(x)  # type: ignore[no-untyped-call]
    return f"{day:%b} {day.day}"


def _titles(fig: Figure, spend_ax: Axes, images_ax: Axes, title: str, subtitle: str) -> None:
    fig.suptitle(title, x=0.02, ha="left", fontsize=14, fontweight="bold", color=INK)
    spend_ax.set_title(subtitle, loc="left", fontsize=11, color=MUTED, pad=10)
    handles = spend_ax.get_legend_handles_labels()[0] + images_ax.get_legend_handles_labels()[0]
    images_ax.legend(
        handles=handles,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncols=2,
        frameon=False,
        fontsize=10,
        labelcolor=INK,
        borderaxespad=0.0,
    )
