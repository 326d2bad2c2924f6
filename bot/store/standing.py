"""What admission reads before anything is reserved, in one trip: settings, quotas, refusals,
results waiting to be pointed out."""

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

# One statement, so one trip to the database instead of four (guild settings and styles, role
# quotas, the member's refusals, their unposted results): each trip costs about 60 µs of CPU at
# 200 /imagine a second on SQLite (benchmarks/admission.py), over 100 µs on PostgreSQL with
# psycopg (benchmarks/cluster.py).
_STANDING = f"""
SELECT {SETTINGS_COLUMNS},
       COALESCE((SELECT json_group_array(
                     json_array(role_id, user_daily_images, user_daily_micro_usd))
                 FROM (SELECT * FROM role_quotas WHERE guild_id = :guild ORDER BY role_id) AS q),
                '[]') AS quotas_json,
       COALESCE((SELECT json_group_array(created_at)
                 FROM ({refusals_sql(_SINCE, member=True)}) AS r), '[]') AS refusals_json,
       COALESCE((SELECT json_group_array(id)
                 FROM (SELECT id FROM jobs WHERE guild_id = :guild AND user_id = :user
                         AND state = 'succeeded' AND delivered_at IS NULL
                         AND finished_at >= :unseen_since AND finished_at < :unseen_until) AS u),
                '[]') AS unseen_json
{SETTINGS_FROM}
"""  # noqa: S608 (constant SQL text; every value is a parameter)


@dataclass(frozen=True, slots=True)
class Standing:
    """A member's standing in a guild at admission.

    `refusal_times` are the member's refusals (UTC, oldest first) within the guild's cool-down
    lookback of the read (none when its cool-down is off): all that bot/jobs/safety/cooldown.py
    needs. `unseen` are the ids of the member's succeeded jobs finished from the read's
    `unseen_since` to `unseen_until` whose result no message has shown (posting failed, or
    is still under way for one finished later), oldest first.
    """

    settings: GuildSettings
    role_quotas: tuple[RoleQuota, ...]
    refusal_times: tuple[datetime, ...]
    unseen: tuple[int, ...] = ()


async def read_standing(
    db: Reader,
    guild_id: int,
    user_id: int,
    now: datetime,
    unseen_since: datetime,
    unseen_until: datetime,
) -> Standing:
    """The guild's settings (with styles) and role quotas, the member's recent refusals and
    their results waiting to be pointed out."""
    params = {
        "guild": guild_id, "user": user_id, "now": int(now.timestamp()),
        "refusals": DEFAULT_COOLDOWN_REFUSALS, "window": DEFAULT_COOLDOWN_WINDOW_MINUTES,
        "minutes": DEFAULT_COOLDOWN_MINUTES, "unseen_since": int(unseen_since.timestamp()),
        "unseen_until": int(unseen_until.timestamp()),
    }  # fmt: skip
    row = await db.fetchone(_STANDING, params)
    assert row is not None  # a select from (SELECT 1) always yields a row
    quotas = tuple(RoleQuota(r[0], r[1], r[2]) for r in json.loads(row["quotas_json"]))
    times = tuple(datetime.fromtimestamp(t, UTC) for t in json.loads(row["refusals_json"]))
    unseen = tuple(sorted(json.loads(row["unseen_json"])))
    return Standing(settings_from_row(guild_id, row), quotas, times, unseen)
