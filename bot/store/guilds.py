"""Per-guild limits and defaults, per-role quota overrides, and the audit log of their changes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from bot.catalog.models import Catalog
from bot.clock import Clock
from bot.db import Database
from bot.domain import Moderation, Quality, Relaxed
from bot.errors import InvalidOptionError
from bot.store.guild_checks import API_MAX_COUNT, Screening, check_config, check_limit

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


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


# A guild's settings row (all NULL when none is set) and its styles, as `settings_from_row`
# reads them; :guild names the guild. bot/store/standing.py adds columns to the same select.
SETTINGS_COLUMNS = """(SELECT json_group_object(name, prompt) FROM
            (SELECT name, prompt FROM styles WHERE guild_id = :guild ORDER BY name_key))
       AS styles_json, guild_settings.*"""
SETTINGS_FROM = "FROM (SELECT 1) LEFT JOIN guild_settings ON guild_settings.guild_id = :guild"
_GET_SETTINGS = f"SELECT {SETTINGS_COLUMNS}\n{SETTINGS_FROM}"


class GuildSettingsStore:
    """Reads and validated, audited writes of guild settings and role quotas."""

    def __init__(self, db: Database, clock: Clock, catalog: Catalog | None = None) -> None:
        self._db = db
        self._clock = clock
        self._catalog = catalog  # when given, model names are checked against it

    async def get(self, guild_id: int) -> GuildSettings:
        # One trip: the settings row (if any) and the guild's styles (migration 0005, /style).
        row = await self._db.fetchone(_GET_SETTINGS, {"guild": guild_id})
        assert row is not None  # the styles sub-select always yields a row
        return settings_from_row(guild_id, row)

    async def update_limits(
        self, guild_id: int, *, changed_by: int, **values: int | None
    ) -> GuildSettings:
        """Set limits (None = back to the built-in default); each change is audited."""
        for name, value in values.items():
            check_limit(name, value)
        return await self._update(guild_id, changed_by, values, section="limits")

    async def update_config(
        self, guild_id: int, *, changed_by: int, **values: Any
    ) -> GuildSettings:
        """Set defaults and switches (None = back to the built-in default); each change audited."""
        normalised = {
            name: check_config(name, value, self._catalog) for name, value in values.items()
        }
        return await self._update(guild_id, changed_by, normalised, section="config")

    async def user_limits(self, guild_id: int, member_role_ids: Iterable[int]) -> tuple[int, int]:
        """(daily images, daily micro-USD) of a member with these roles; 0 = no limit."""
        settings = await self.get(guild_id)
        quotas = await self.role_quotas(guild_id)
        return effective_user_limits(settings.limits, quotas, member_role_ids)

    async def role_quotas(self, guild_id: int) -> list[RoleQuota]:
        rows = await self._db.fetchall(
            "SELECT role_id, user_daily_images, user_daily_micro_usd FROM role_quotas"
            " WHERE guild_id = ? ORDER BY role_id",
            (guild_id,),
        )
        return [RoleQuota(r[0], r[1], r[2]) for r in rows]

    async def set_role_quota(
        self,
        guild_id: int,
        role_id: int,
        *,
        changed_by: int,
        user_daily_images: int | None,
        user_daily_micro_usd: int | None,
    ) -> RoleQuota | None:
        """Set a role's overrides; both None removes the role's override. Audited."""
        check_limit("user_daily_images", user_daily_images)
        check_limit("user_daily_micro_usd", user_daily_micro_usd)
        now = self._clock.now()
        after = (user_daily_images, user_daily_micro_usd)
        async with self._db.transaction() as conn:
            async with conn.execute(
                "SELECT user_daily_images, user_daily_micro_usd FROM role_quotas"
                " WHERE guild_id = ? AND role_id = ?",
                (guild_id, role_id),
            ) as cursor:
                old = await cursor.fetchone()
            before = (None, None) if old is None else (old[0], old[1])
            await _write_role_quota(conn, guild_id, role_id, after, now)
            names = ("user_daily_images", "user_daily_micro_usd")
            for name, old_value, new_value in zip(names, before, after, strict=True):
                if old_value != new_value:
                    field = f"role:{role_id}:{name}"
                    await _audit(conn, guild_id, changed_by, field, old_value, new_value, now)
        return None if after == (None, None) else RoleQuota(role_id, *after)

    async def changes(self, guild_id: int, limit: int = 10) -> list[SettingsChange]:
        """The newest audited changes first."""
        rows = await self._db.fetchall(
            "SELECT user_id, field, old_value, new_value, changed_at FROM settings_changes"
            " WHERE guild_id = ? ORDER BY changed_at DESC, id DESC LIMIT ?",
            (guild_id, limit),
        )
        return [
            SettingsChange(r[0], r[1], r[2], r[3], datetime.fromtimestamp(r[4], UTC)) for r in rows
        ]

    async def _update(
        self, guild_id: int, changed_by: int, values: Mapping[str, object], *, section: str
    ) -> GuildSettings:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            async with conn.execute(
                "SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,)
            ) as cursor:
                before = _settings_from_row(guild_id, await cursor.fetchone())
            old = before.limits if section == "limits" else before.config
            raw = {name: _column_value(value) for name, value in values.items()}
            after = self._merged(before, values, section)
            await _upsert(conn, guild_id, raw, now)
            new = after.limits if section == "limits" else after.config
            for name in values:
                old_value, new_value = getattr(old, name), getattr(new, name)
                if old_value != new_value:
                    await _audit(conn, guild_id, changed_by, name, old_value, new_value, now)
        return after

    def _merged(
        self, before: GuildSettings, values: Mapping[str, object], section: str
    ) -> GuildSettings:
        """The settings after the update, with None fields back at their defaults."""
        if section == "limits":
            defaults: Any = GuildLimits()
            current: Any = before.limits
        else:
            defaults, current = GuildConfig(), before.config
        resolved = {
            name: getattr(defaults, name) if value is None else value
            for name, value in values.items()
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


def _column_value(value: object) -> object:
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return int(value)
    return value


async def _upsert(
    conn: aiosqlite.Connection, guild_id: int, raw: Mapping[str, object], now: datetime
) -> None:
    columns = list(raw)  # validated names only: never user text
    names = ", ".join(["guild_id", *columns, "updated_at"])
    marks = ", ".join("?" * (len(columns) + 2))
    updates = ", ".join(f"{c} = excluded.{c}" for c in [*columns, "updated_at"])
    await conn.execute(
        f"INSERT INTO guild_settings ({names}) VALUES ({marks})"  # noqa: S608
        f" ON CONFLICT (guild_id) DO UPDATE SET {updates}",
        (guild_id, *raw.values(), int(now.timestamp())),
    )


async def _write_role_quota(
    conn: aiosqlite.Connection,
    guild_id: int,
    role_id: int,
    values: tuple[int | None, int | None],
    now: datetime,
) -> None:
    if values == (None, None):
        await conn.execute(
            "DELETE FROM role_quotas WHERE guild_id = ? AND role_id = ?", (guild_id, role_id)
        )
        return
    await conn.execute(
        "INSERT INTO role_quotas (guild_id, role_id, user_daily_images, user_daily_micro_usd,"
        " updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, role_id) DO UPDATE SET"
        " user_daily_images = excluded.user_daily_images,"
        " user_daily_micro_usd = excluded.user_daily_micro_usd, updated_at = excluded.updated_at",
        (guild_id, role_id, *values, int(now.timestamp())),
    )


async def _audit(
    conn: aiosqlite.Connection,
    guild_id: int,
    user_id: int,
    field: str,
    old: object,
    new: object,
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO settings_changes (guild_id, user_id, field, old_value, new_value, changed_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (guild_id, user_id, field, _text(old), _text(new), int(now.timestamp())),
    )


def settings_from_row(guild_id: int, row: aiosqlite.Row) -> GuildSettings:
    """Settings from a row of `guild_settings.*` (all NULL: none set) with `styles_json`."""
    settings = _settings_from_row(guild_id, row if row["guild_id"] is not None else None)
    styles: dict[str, str] = json.loads(row["styles_json"]) if row["styles_json"] else {}
    return replace(settings, styles=styles) if styles else settings


def _settings_from_row(guild_id: int, row: aiosqlite.Row | None) -> GuildSettings:
    if row is None:
        return GuildSettings(guild_id, GuildLimits(), GuildConfig())
    limit_values = {f.name: row[f.name] for f in fields(GuildLimits) if row[f.name] is not None}
    config = GuildConfig(
        default_model=row["default_model"],
        default_quality=row["default_quality"] or DEFAULT_QUALITY,
        default_size=row["default_size"] or DEFAULT_SIZE,
        allowed_models=tuple(row["allowed_models"].split(",")) if row["allowed_models"] else None,
        moderation=row["moderation"] or DEFAULT_MODERATION,
        previews=DEFAULT_PREVIEWS if row["previews"] is None else bool(row["previews"]),
        log_channel_id=row["log_channel_id"],
        relaxed=row["relaxed"] or DEFAULT_RELAXED,
        **_safety_config(row),
    )
    return GuildSettings(guild_id, GuildLimits(**limit_values), config)


def _safety_config(row: aiosqlite.Row) -> dict[str, Any]:
    """Migration 0005's settings that are set (NULL = the default)."""
    names = ("screening", "cooldown_refusals", "cooldown_window_minutes", "cooldown_minutes")
    values: dict[str, Any] = {name: row[name] for name in names if row[name] is not None}
    if row["spoilers"] is not None:
        values["spoilers"] = bool(row["spoilers"])
    return values
