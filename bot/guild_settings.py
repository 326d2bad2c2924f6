"""A guild's settings as values: limits, config, role quotas, their defaults and the quota rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from bot.domain import Moderation, Quality, Relaxed
from bot.errors import InvalidOptionError

API_MAX_COUNT = 10  # the Images API's maximum n
Screening = Literal["off", "prompts", "prompts_and_images"]

# Built-in defaults, used until a moderator sets a value. Deliberately conservative: a fresh
# install with a funded key must not be able to spend much before anyone has looked at /quota.
# A medium 1024x1024 image costs about $0.04, so $5/day is ~120 images and $1/member ~25.
DEFAULT_DAILY_MICRO_USD = 5_000_000  # $5 per guild per UTC day
DEFAULT_MONTHLY_MICRO_USD = 50_000_000  # $50 per guild per UTC month
DEFAULT_DAILY_IMAGES = 200  # per guild per day
DEFAULT_USER_DAILY_IMAGES = 20  # per member per day
DEFAULT_USER_DAILY_MICRO_USD = 1_000_000  # $1 per member per day
DEFAULT_MAX_COUNT = 4  # images per request: one request cannot eat a member's day at once
# Medium quality at the square size: the cheapest setting that still looks good, so an
# unconfigured guild does not pay high-quality prices by default.
DEFAULT_QUALITY: Quality = "medium"
DEFAULT_SIZE = "1024x1024"
DEFAULT_MODERATION: Moderation = "auto"
DEFAULT_PREVIEWS = False  # previews cost 100 output tokens each; opt-in
# Screening is off until a moderator turns it on: a gateway without /moderations would otherwise
# refuse every job (screening fails closed).
DEFAULT_SCREENING: Screening = "off"
DEFAULT_SPOILERS = False
# Three refusals within 15 minutes cool a member down for 30: enough for a typo or two, not for
# probing the filters (each safety refusal counts against the operator's organization).
DEFAULT_COOLDOWN_REFUSALS = 3
DEFAULT_COOLDOWN_WINDOW_MINUTES = 15
DEFAULT_COOLDOWN_MINUTES = 30
DEFAULT_RELAXED: Relaxed = "off"  # the relaxed speed is opt-in (/config set relaxed)


@dataclass(frozen=True, slots=True)
class GuildLimits:
    """Budgets and quotas; money in micro-USD; 0 means no limit."""

    daily_micro_usd: int = DEFAULT_DAILY_MICRO_USD
    monthly_micro_usd: int = DEFAULT_MONTHLY_MICRO_USD
    daily_images: int = DEFAULT_DAILY_IMAGES
    user_daily_images: int = DEFAULT_USER_DAILY_IMAGES
    user_daily_micro_usd: int = DEFAULT_USER_DAILY_MICRO_USD
    max_count: int = DEFAULT_MAX_COUNT

    @property
    def count_cap(self) -> int:
        """The most images one request may ask for here."""
        return min(self.max_count, API_MAX_COUNT) if self.max_count else API_MAX_COUNT


@dataclass(frozen=True, slots=True)
class GuildConfig:
    """Defaults and switches; default_model None = the bot's IMAGE_MODEL."""

    default_model: str | None = None
    default_quality: Quality = DEFAULT_QUALITY
    default_size: str = DEFAULT_SIZE
    allowed_models: tuple[str, ...] | None = None  # None = every model in the catalog
    moderation: Moderation = DEFAULT_MODERATION
    previews: bool = DEFAULT_PREVIEWS
    log_channel_id: int | None = None
    screening: Screening = DEFAULT_SCREENING
    spoilers: bool = DEFAULT_SPOILERS
    cooldown_refusals: int = DEFAULT_COOLDOWN_REFUSALS  # 0 = no cool-down
    cooldown_window_minutes: int = DEFAULT_COOLDOWN_WINDOW_MINUTES
    cooldown_minutes: int = DEFAULT_COOLDOWN_MINUTES
    relaxed: Relaxed = DEFAULT_RELAXED
    paused: bool = False  # /config set paused: new jobs refused, queued ones stay


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """A guild's limits and config, and its styles (name -> text; none until /style exists)."""

    guild_id: int
    limits: GuildLimits
    config: GuildConfig
    styles: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RoleQuota:
    """A role's override of the per-member limits; None = no override of that limit."""

    role_id: int
    user_daily_images: int | None
    user_daily_micro_usd: int | None


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """One audited change: who set which field from what to what."""

    user_id: int
    field: str
    old_value: str | None
    new_value: str | None
    changed_at: datetime


def _most_generous(values: list[int]) -> int:
    return 0 if 0 in values else max(values)


def effective_user_limits(
    limits: GuildLimits, role_quotas: Iterable[RoleQuota], member_role_ids: Iterable[int]
) -> tuple[int, int]:
    """(daily images, daily micro-USD) for a member; 0 = no limit.

    A role override replaces the guild's per-member limit (so a role can also restrict); when
    several of the member's roles override a limit, the most generous wins, "no limit" above all.
    """
    roles = set(member_role_ids)
    mine = [quota for quota in role_quotas if quota.role_id in roles]
    images = [q.user_daily_images for q in mine if q.user_daily_images is not None]
    usd = [q.user_daily_micro_usd for q in mine if q.user_daily_micro_usd is not None]
    return (
        _most_generous(images) if images else limits.user_daily_images,
        _most_generous(usd) if usd else limits.user_daily_micro_usd,
    )


def merged(before: GuildSettings, values: Mapping[str, object], section: str) -> GuildSettings:
    """The settings after an update of `section` ("limits" or "config"), with None fields back
    at their defaults; InvalidOptionError if the default model is not among the allowed ones."""
    if section == "limits":
        defaults: Any = GuildLimits()
        current: Any = before.limits
    else:
        defaults, current = GuildConfig(), before.config
    resolved = {
        name: getattr(defaults, name) if value is None else value for name, value in values.items()
    }
    updated = replace(current, **resolved)
    if section == "limits":
        return replace(before, limits=updated)
    _check_default_allowed(updated)
    return replace(before, config=updated)


def _check_default_allowed(config: GuildConfig) -> None:
    allowed = config.allowed_models
    if config.default_model and allowed is not None and config.default_model not in allowed:
        raise InvalidOptionError(
            "model", f"the default model must be one of the allowed models ({', '.join(allowed)})"
        )
