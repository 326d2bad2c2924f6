"""Per-guild limits and defaults, per-role quota overrides, and the audit log of their changes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any

from bot.db import Reader, Row, Transaction
from bot.guild_settings import (
    DEFAULT_MODERATION,
    DEFAULT_PREVIEWS,
    DEFAULT_QUALITY,
    DEFAULT_RELAXED,
    DEFAULT_SIZE,
    GuildConfig,
    GuildLimits,
    GuildSettings,
    RoleQuota,
    SettingsChange,
)

# A guild's settings row (all NULL when none is set) and its styles, as `settings_from_row`
# reads them; :guild names the guild. bot/store/standing.py adds columns to the same select.
SETTINGS_COLUMNS = """COALESCE((SELECT json_group_object(name, prompt) FROM
            (SELECT name, prompt FROM styles WHERE guild_id = :guild ORDER BY name_key) AS s),
            '{}') AS styles_json, guild_settings.*"""
SETTINGS_FROM = (
    "FROM (SELECT 1) AS one LEFT JOIN guild_settings ON guild_settings.guild_id = :guild"
)
_GET_SETTINGS = f"SELECT {SETTINGS_COLUMNS}\n{SETTINGS_FROM}"


async def get_settings(db: Reader, guild_id: int) -> GuildSettings:
    """The guild's settings (defaults where none is set) with its styles."""
    # One trip: the settings row (if any) and the guild's styles (migration 0005, /style).
    row = await db.fetchone(_GET_SETTINGS, {"guild": guild_id})
    assert row is not None  # the styles sub-select always yields a row
    return settings_from_row(guild_id, row)


async def settings_only(db: Reader, guild_id: int) -> GuildSettings:
    """The guild's limits and config without its styles (what an update starts from)."""
    row = await db.fetchone("SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,))
    return _settings_from_row(guild_id, row)


async def role_quotas(db: Reader, guild_id: int) -> list[RoleQuota]:
    rows = await db.fetchall(
        "SELECT role_id, user_daily_images, user_daily_micro_usd FROM role_quotas"
        " WHERE guild_id = ? ORDER BY role_id",
        (guild_id,),
    )
    return [RoleQuota(r[0], r[1], r[2]) for r in rows]


async def role_quota(db: Reader, guild_id: int, role_id: int) -> RoleQuota | None:
    row = await db.fetchone(
        "SELECT role_id, user_daily_images, user_daily_micro_usd FROM role_quotas"
        " WHERE guild_id = ? AND role_id = ?",
        (guild_id, role_id),
    )
    return None if row is None else RoleQuota(row[0], row[1], row[2])


async def changes(db: Reader, guild_id: int, limit: int = 10) -> list[SettingsChange]:
    """The newest audited changes first."""
    rows = await db.fetchall(
        "SELECT user_id, field, old_value, new_value, changed_at FROM settings_changes"
        " WHERE guild_id = ? ORDER BY changed_at DESC, id DESC LIMIT ?",
        (guild_id, limit),
    )
    return [SettingsChange(r[0], r[1], r[2], r[3], datetime.fromtimestamp(r[4], UTC)) for r in rows]


async def upsert_settings(
    conn: Transaction, guild_id: int, values: Mapping[str, object], now: datetime
) -> None:
    """Set these columns of the guild's row (None = back to the default), creating the row."""
    raw = {name: _column_value(value) for name, value in values.items()}
    columns = list(raw)  # validated names only: never user text
    names = ", ".join(["guild_id", *columns, "updated_at"])
    marks = ", ".join("?" * (len(columns) + 2))
    updates = ", ".join(f"{c} = excluded.{c}" for c in [*columns, "updated_at"])
    await conn.execute(
        f"INSERT INTO guild_settings ({names}) VALUES ({marks})"  # noqa: S608
        f" ON CONFLICT (guild_id) DO UPDATE SET {updates}",
        (guild_id, *raw.values(), int(now.timestamp())),
    )


async def write_role_quota(
    conn: Transaction,
    guild_id: int,
    role_id: int,
    values: tuple[int | None, int | None],
    now: datetime,
) -> None:
    """Set a role's (images, micro-USD) overrides; (None, None) removes the role's row."""
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


async def audit(
    conn: Transaction,
    guild_id: int,
    user_id: int,
    field: str,
    old: object,
    new: object,
    now: datetime,
) -> None:
    """One row of the audit log: who set which field from what to what."""
    await conn.execute(
        "INSERT INTO settings_changes (guild_id, user_id, field, old_value, new_value, changed_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (guild_id, user_id, field, _text(old), _text(new), int(now.timestamp())),
    )


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _column_value(value: object) -> object:
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return int(value)
    return value


def settings_from_row(guild_id: int, row: Row) -> GuildSettings:
    """Settings from a row of `guild_settings.*` (all NULL: none set) with `styles_json`."""
    settings = _settings_from_row(guild_id, row if row["guild_id"] is not None else None)
    styles: dict[str, str] = json.loads(row["styles_json"]) if row["styles_json"] else {}
    return replace(settings, styles=styles) if styles else settings


def _settings_from_row(guild_id: int, row: Row | None) -> GuildSettings:
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


def _safety_config(row: Row) -> dict[str, Any]:
    """Migration 0005's settings that are set (NULL = the default)."""
    names = ("screening", "cooldown_refusals", "cooldown_window_minutes", "cooldown_minutes")
    values: dict[str, Any] = {name: row[name] for name in names if row[name] is not None}
    for switch in ("spoilers", "paused"):
        if row[switch] is not None:
            values[switch] = bool(row[switch])
    return values
