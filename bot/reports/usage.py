"""Usage periods and the /usage overview built from the usage store."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from bot.clock import Clock, day_start, month_start, next_day, next_month
from bot.db import Reader
from bot.errors import InvalidOptionError
from bot.money import format_usd
from bot.reports.export import ExportFile, LedgerCsvWriter
from bot.store import usage as store
from bot.store.ledger import HiddenUsage, hidden_usage_since
from bot.store.usage import BudgetUsage, DailyUsage, RelaxedUsage, UsageReport

Period = Literal["today", "7d", "30d", "month", "all"]
PERIODS: tuple[Period, ...] = get_args(Period)
PERIOD_TITLES: dict[Period, str] = {
    "today": "today",
    "7d": "the last 7 days",
    "30d": "the last 30 days",
    "month": "this month",
    "all": "all time",
}
_TRAILING_DAYS: dict[str, int] = {"today": 0, "7d": 6, "30d": 29}


def period_bounds(period: str, now: datetime) -> tuple[datetime | None, datetime]:
    """The half-open UTC window [start, end) of a period; start is None for 'all'.

    `end` is the next 00:00 UTC, so every period ends with today, whole. 'today' is today;
    '7d' and '30d' are today plus the previous 6 or 29 days; 'month' starts on the 1st.
    """
    today = day_start(now)
    end = next_day(now)
    if period in _TRAILING_DAYS:
        return today - timedelta(days=_TRAILING_DAYS[period]), end
    if period == "month":
        return month_start(now), end
    if period == "all":
        return None, end
    raise InvalidOptionError("period", f"choose one of {', '.join(PERIODS)}")


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    """The limits a budget is measured against, as the caller resolved them; 0 = no limit."""

    daily_micro_usd: int = 0
    monthly_micro_usd: int = 0
    daily_images: int = 0


@dataclass(frozen=True, slots=True)
class BudgetLine:
    """One budget: how much is used, its limit (0 = none), what is left and when it resets."""

    unit: Literal["usd", "images"]
    used: int
    limit: int
    resets_at: datetime

    @property
    def left(self) -> int | None:
        """What remains before the limit (never negative), or None when there is no limit."""
        return None if self.limit <= 0 else max(0, self.limit - self.used)


@dataclass(frozen=True, slots=True)
class Budget:
    """Today's and this month's budget use; the month has no image limit of its own."""

    daily_usd: BudgetLine
    daily_images: BudgetLine
    monthly_usd: BudgetLine
    monthly_images: BudgetLine


def budget_from(used: BudgetUsage, limits: BudgetLimits, now: datetime) -> Budget:
    """Combine the jobs' charges with the limits; days and months reset at 00:00 UTC."""
    tomorrow = next_day(now)
    month_end = next_month(now)
    return Budget(
        daily_usd=BudgetLine("usd", used.day_micro_usd, limits.daily_micro_usd, tomorrow),
        daily_images=BudgetLine("images", used.day_images, limits.daily_images, tomorrow),
        monthly_usd=BudgetLine("usd", used.month_micro_usd, limits.monthly_micro_usd, month_end),
        monthly_images=BudgetLine("images", used.month_images, 0, month_end),
    )


@dataclass(frozen=True, slots=True)
class UsageOverview:
    """What /usage shows: the period, the ledger report and the budget, as of `now`."""

    period: Period
    now: datetime
    report: UsageReport
    budget: Budget

    @property
    def title(self) -> str:
        """A chart or embed title: "Spend and images per day, the last 30 days"."""
        return f"Spend and images per day, {PERIOD_TITLES[self.period]}"

    @property
    def summary(self) -> str:
        """One line of totals: "Total $3.55 · 9 images · 8 requests", then the spend in doubt
        and estimated when there is any ("· $0.25 in doubt · $0.40 estimated")."""
        t = self.report.totals
        line = (
            f"Total {format_usd(t.spend_micro_usd)} · {format_images(t.images)} · "
            f"{t.requests:,} request{'' if t.requests == 1 else 's'}"
        )
        if t.in_doubt_requests:
            line += f" · {format_usd(t.in_doubt_micro_usd)} in doubt"
        if t.estimated_requests:
            line += f" · {format_usd(t.estimated_micro_usd)} estimated"
        return line


def speeds_text(relaxed: RelaxedUsage, totals_images: int, totals_spend: int) -> str | None:
    """Fast and relaxed apart, with the saving against the fast price; None without relaxed."""
    if not relaxed.requests:
        return None
    fast_images = totals_images - relaxed.images
    fast_spend = totals_spend - relaxed.spend_micro_usd
    return (
        f"Fast: {format_images(fast_images)} · {format_usd(fast_spend)}\n"
        f"Relaxed: {format_images(relaxed.images)} · {format_usd(relaxed.spend_micro_usd)} "
        f"(saved {format_usd(relaxed.saving_micro_usd)} against the fast price)"
    )


def format_images(count: int) -> str:
    """ "1 image", "1,234 images"."""
    return f"{count:,} image" if count == 1 else f"{count:,} images"


class UsageService:
    """Builds usage overviews, their chart and their CSV export for moderators."""

    def __init__(self, db: Reader, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def hidden_usage_notice(self) -> str | None:
        """The operator's notice that recent answers came without `usage` (charged at their
        estimates), from the last HIDDEN_USAGE_DAYS of the ledger; None when all had it."""
        since = self._clock.now() - timedelta(days=HIDDEN_USAGE_DAYS)
        return hidden_usage_line(await hidden_usage_since(self._db, since))

    async def overview(
        self,
        guild_id: int,
        period: str,
        *,
        limits: BudgetLimits,
        user_id: int | None = None,
    ) -> UsageOverview:
        """The period's report and today's and this month's budget use, as of now.

        With `user_id`, both are that member's own, and `limits` should be the member's (their
        per-user daily limits). Raises InvalidOptionError for an unknown period.
        """
        now = self._clock.now()
        known = _as_period(period)
        start, end = period_bounds(known, now)
        report = await store.report(self._db, guild_id, start=start, end=end, user_id=user_id)
        used = await store.budget_used(
            self._db,
            guild_id,
            day_start=day_start(now),
            month_start=month_start(now),
            end=end,
            user_id=user_id,
        )
        return UsageOverview(known, now, report, budget_from(used, limits, now))

    async def budget(
        self, guild_id: int, *, limits: BudgetLimits, user_id: int | None = None
    ) -> Budget:
        """Today's and this month's budget use against `limits` (the member's, with user_id)."""
        now = self._clock.now()
        used = await store.budget_used(
            self._db,
            guild_id,
            day_start=day_start(now),
            month_start=month_start(now),
            end=next_day(now),
            user_id=user_id,
        )
        return budget_from(used, limits, now)

    async def chart(self, overview: UsageOverview, *, title: str | None = None) -> bytes:
        """The daily chart as PNG bytes, rendered in a worker thread."""
        return await asyncio.to_thread(
            _render_chart,
            overview.report.daily,
            title=title or overview.title,
            subtitle=overview.summary,
        )

    async def export_members(self, overview: UsageOverview) -> list[int]:
        """The members the export's rows name (at most EXPORT_NAMED of them), to look up."""
        report = overview.report
        if report.user_id is not None:
            return [report.user_id]
        return await store.member_ids(
            self._db, report.guild_id, start=report.start, end=report.end, most=EXPORT_NAMED
        )

    async def export(
        self,
        overview: UsageOverview,
        *,
        limit_bytes: int,
        names: Mapping[int, str] | None = None,
    ) -> ExportFile:
        """The overview's ledger rows as CSV, zipped when larger than `limit_bytes`.

        Raises InvalidOptionError when even the zip is larger than the limit.
        """
        report = overview.report
        return await export_ledger(
            self._db,
            report.guild_id,
            start=report.start,
            end=report.end,
            user_id=report.user_id,
            limit_bytes=limit_bytes,
            name=_export_name(overview),
            names=names,
        )


async def export_ledger(
    db: Reader,
    guild_id: int,
    *,
    start: datetime | None,
    end: datetime,
    limit_bytes: int,
    user_id: int | None = None,
    name: str = "usage",
    names: Mapping[int, str] | None = None,
) -> ExportFile:
    """Stream the window's ledger rows into a CSV (or zip), formatting off the event loop;
    `names`: members' names by id, written beside their ids."""
    writer = LedgerCsvWriter(limit_bytes=limit_bytes, name=name, names=names)
    async for chunk in store.export_rows(db, guild_id, start=start, end=end, user_id=user_id):
        await asyncio.to_thread(writer.write_rows, chunk)
    export = await asyncio.to_thread(writer.finish)
    if len(export.data) > limit_bytes:
        reason = "the export is too large to attach; choose a shorter period or one member"
        raise InvalidOptionError("period", reason)
    return export


HIDDEN_USAGE_DAYS = 7
# Members looked up by name for an export (each lookup may be one request to Discord).
EXPORT_NAMED = 50


def hidden_usage_line(hidden: HiddenUsage, days: int = HIDDEN_USAGE_DAYS) -> str | None:
    """The operator's notice that the provider hides `usage`, or None when it does not.

    From the ledger: calls of the last `days` whose rows are marked estimated
    (docs/sources.md#provider-usage: several gateways send no `usage`).
    """
    if not hidden.calls:
        return None
    return (
        f"the provider hides usage: {hidden.calls} of the {hidden.requests} calls of the "
        f"last {days} days came back without `usage`, so they were charged at their upper-bound "
        "estimate (ledger billing=estimated); point OPENAI_BASE_URL at a gateway that passes "
        "usage through for exact costs"
    )


def _as_period(period: str) -> Period:
    for known in PERIODS:
        if known == period:
            return known
    raise InvalidOptionError("period", f"choose one of {', '.join(PERIODS)}")


def _export_name(overview: UsageOverview) -> str:
    report = overview.report
    who = f"-{report.user_id}" if report.user_id is not None else ""
    return f"usage-{report.guild_id}{who}-{overview.period}-{overview.now:%Y%m%d}"


def _render_chart(days: Sequence[DailyUsage], *, title: str, subtitle: str) -> bytes:
    # matplotlib takes about half a second to import and only this chart needs it: import it
    # the first time a chart is drawn, not at start-up.
    from bot.reports.charts import render_usage_chart

    return render_usage_chart(days, title=title, subtitle=subtitle)
