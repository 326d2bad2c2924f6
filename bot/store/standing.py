"""What admission reads before anything is reserved, in one trip: settings, quotas, refusals."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.db import Reader
from bot.guild_settings import (
    DEFAULT_COOLDOWN_MINUTES,
    DEFAULT_COOLDOWN_REFUSALS,
    DEFAULT_COOLDOWN_WINDOW_MINUTES,
    GuildSettings,
    RoleQuota,
)
from bot.store.guilds import SETTINGS_COLUMNS, SETTINGS_FROM, settings_from_row
from bot.store.safety import refusals_sql

# The earliest refusal that can still matter under the guild's cool-down policy: a window, then a
# whole cool-down before now (bot/jobs/safety/cooldown.py CooldownPolicy.lookback); none when
# it is off.
_SINCE = """(CASE WHEN COALESCE(guild_settings.cooldown_refusals, :refusals) > 0
    THEN :now - 60 * (COALESCE(guild_settings.cooldown_window_minutes, :window)
                      + COALESCE(guild_settings.cooldown_minutes, :minutes))
    ELSE 9223372036854775807 END)"""

# One statement, so one trip to the database thread instead of three (guild settings and styles,
# role quotas, the member's refusals): each trip costs about 60 µs of CPU at 200 /imagine a
# second (benchmarks/admission.py).
_STANDING = f"""
SELECT {SETTINGS_COLUMNS},
       COALESCE((SELECT json_group_array(
                     json_array(role_id, user_daily_images, user_daily_micro_usd))
                 FROM (SELECT * FROM role_quotas WHERE guild_id = :guild ORDER BY role_id) AS q),
                '[]') AS quotas_json,
       COALESCE((SELECT json_group_array(created_at)
                 FROM ({refusals_sql(_SINCE, member=True)}) AS r), '[]') AS refusals_json
{SETTINGS_FROM}
"""  # noqa: S608 (constant SQL text; every value is a parameter)


@dataclass(frozen=True, slots=True)
class Standing:
    """A member's standing in a guild at admission.

    `refusal_times` are the member's refusals (UTC, oldest first) within the guild's cool-down
    lookback of the read (none when its cool-down is off): all that bot/jobs/safety/cooldown.py
    needs.
    """

    settings: GuildSettings
    role_quotas: tuple[RoleQuota, ...]
    refusal_times: tuple[datetime, ...]


async def read_standing(db: Reader, guild_id: int, user_id: int, now: datetime) -> Standing:
    """The guild's settings (with styles) and role quotas and the member's recent refusals."""
    params = {
        "guild": guild_id, "user": user_id, "now": int(now.timestamp()),
        "refusals": DEFAULT_COOLDOWN_REFUSALS, "window": DEFAULT_COOLDOWN_WINDOW_MINUTES,
        "minutes": DEFAULT_COOLDOWN_MINUTES,
    }  # fmt: skip
    row = await db.fetchone(_STANDING, params)
    assert row is not None  # a select from (SELECT 1) always yields a row
    quotas = tuple(RoleQuota(r[0], r[1], r[2]) for r in json.loads(row["quotas_json"]))
    times = tuple(datetime.fromtimestamp(t, UTC) for t in json.loads(row["refusals_json"]))
    return Standing(settings_from_row(guild_id, row), quotas, times)
