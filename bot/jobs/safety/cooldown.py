"""Cool-downs after repeated refusals: a pure rule over the times of a member's refusals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.guild_settings import GuildConfig


@dataclass(frozen=True, slots=True)
class CooldownPolicy:
    """`refusals` refusals within `window` start a cool-down of `duration` (0 refusals = off)."""

    refusals: int
    window: timedelta
    duration: timedelta

    @classmethod
    def of(cls, config: GuildConfig) -> CooldownPolicy:
        return cls(
            config.cooldown_refusals,
            timedelta(minutes=config.cooldown_window_minutes),
            timedelta(minutes=config.cooldown_minutes),
        )

    @property
    def lookback(self) -> timedelta:
        """How far back refusals can still matter: a window, then a whole cool-down."""
        return self.window + self.duration

    @property
    def enabled(self) -> bool:
        return self.refusals > 0


def cooldown_until(
    times: Sequence[datetime], policy: CooldownPolicy, now: datetime
) -> datetime | None:
    """When the member's cool-down ends, or None if they are not cooled down at `now`.

    A cool-down starts at the refusal that makes `policy.refusals` of them within
    `policy.window` (that one included) and lasts `policy.duration` from it.
    """
    if not policy.enabled:
        return None
    ordered = sorted(times)
    span = policy.refusals - 1
    ends = [
        ordered[i] + policy.duration
        for i in range(span, len(ordered))
        if ordered[i] - ordered[i - span] < policy.window
    ]
    latest = max(ends, default=None)
    return latest if latest is not None and latest > now else None
