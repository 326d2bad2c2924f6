"""The limits one submission must fit, and the refusal that names the first it would break."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.catalog.pricing import CostEstimate
from bot.clock import next_day, next_month
from bot.errors import QueueFullError, QuotaExceededError, QuotaUnit
from bot.guild_settings import GuildLimits
from bot.store.jobs import BudgetUse


@dataclass(frozen=True, slots=True)
class AccountCeilings:
    """ACCOUNT_DAILY_USD and ACCOUNT_MONTHLY_USD in micro-USD: every guild together (0 = none)."""

    daily_micro_usd: int = 0
    monthly_micro_usd: int = 0

    @property
    def active(self) -> bool:
        """Whether either ceiling is set (then admission reads every guild's totals)."""
        return bool(self.daily_micro_usd or self.monthly_micro_usd)


@dataclass(frozen=True, slots=True)
class MemberLimits:
    """The limits that apply to one submission (0 = no limit)."""

    guild: GuildLimits
    user_daily_images: int
    user_daily_micro_usd: int
    member_queue: int
    guild_queue: int
    account: AccountCeilings = field(default_factory=AccountCeilings)


@dataclass(frozen=True, slots=True)
class _Check:
    limit: str
    unit: QuotaUnit
    used: int
    allowed: int
    requested: int
    resets_at: datetime


def check_reservation(
    use: BudgetUse, limits: MemberLimits, cost: CostEstimate, now: datetime
) -> None:
    """Raise the first limit this reservation would break (queue, then budgets and quotas)."""
    if limits.member_queue and use.user_queued >= limits.member_queue:
        raise QueueFullError("member", limits.member_queue)
    if limits.guild_queue and use.guild_queued >= limits.guild_queue:
        raise QueueFullError("guild", limits.guild_queue)
    tomorrow, month = next_day(now), next_month(now)
    g, usd, images = limits.guild, cost.micro_usd, cost.images
    checks = (
        _Check("the server's daily budget", "usd", use.guild_day_micro_usd, g.daily_micro_usd,
               usd, tomorrow),
        _Check("the server's monthly budget", "usd", use.guild_month_micro_usd,
               g.monthly_micro_usd, usd, month),
        _Check("the server's daily images", "images", use.guild_day_images, g.daily_images,
               images, tomorrow),
        _Check("your daily images", "images", use.user_day_images, limits.user_daily_images,
               images, tomorrow),
        _Check("your daily budget", "usd", use.user_day_micro_usd, limits.user_daily_micro_usd,
               usd, tomorrow),
        _Check("the bot's daily budget for every server", "usd", use.account_day_micro_usd,
               limits.account.daily_micro_usd, usd, tomorrow),
        _Check("the bot's monthly budget for every server", "usd",
               use.account_month_micro_usd, limits.account.monthly_micro_usd, usd, month),
    )  # fmt: skip
    for c in checks:
        if c.allowed and c.used + c.requested > c.allowed:
            raise QuotaExceededError(
                limit=c.limit,
                unit=c.unit,
                used=c.used,
                allowed=c.allowed,
                requested=c.requested,
                resets_at=c.resets_at,
            )
