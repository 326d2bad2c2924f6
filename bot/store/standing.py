"""What admission reads before anything is reserved, in one trip: settings, quotas, refusals."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.db import Database
from bot.store.guild_checks import MAX_COOLDOWN_MINUTES
from bot.store.guilds import GuildSettings, RoleQuota, settings_from_row
from bot.store.safety import MEMBER_REFUSAL_TIMES

# The furthest back a refusal can matter: the longest window, then the longest cool-down
# (bot/jobs/cooldown.py CooldownPolicy.lookback with both at their maximum).
LOOKBACK = timedelta(minutes=2 * MAX_COOLDOWN_MINUTES)

# One statement, so one trip to the database thread instead of three (guild settings and styles,
# role quotas, the member's refusals): at 200 /imagine a second each trip costs about 60 µs of
# CPU (benchmarks/admission.py).
_STANDING = f"""
SELECT (SELECT json_group_object(name, prompt) FROM
            (SELECT name, prompt FROM styles WHERE guild_id = :guild ORDER BY name_key))
       AS styles_json,
       (SELECT json_group_array(json_array(role_id, user_daily_images, user_daily_micro_usd))
        FROM (SELECT * FROM role_quotas WHERE guild_id = :guild ORDER BY role_id))
       AS quotas_json,
       (SELECT json_group_array(created_at) FROM ({MEMBER_REFUSAL_TIMES} ORDER BY 1))
       AS refusals_json,
       guild_settings.*
FROM (SELECT 1) LEFT JOIN guild_settings ON guild_settings.guild_id = :guild
"""  # noqa: S608 (constant SQL text; every value is a parameter)


@dataclass(frozen=True, slots=True)
class Standing:
    """A member's standing in a guild at admission.

    `refusal_times` are the member's refusals (UTC, oldest first) within LOOKBACK of the read:
    those a cool-down can count (bot/jobs/cooldown.py narrows them to the guild's policy).
    """

    settings: GuildSettings
    role_quotas: tuple[RoleQuota, ...]
    refusal_times: tuple[datetime, ...]


async def read_standing(db: Database, guild_id: int, user_id: int, now: datetime) -> Standing:
    """The guild's settings (with styles) and role quotas and the member's recent refusals."""
    since = int((now - LOOKBACK).timestamp())
    params = {"guild": guild_id, "user": user_id, "since": since}
    row = await db.fetchone(_STANDING, params)
    assert row is not None  # a select from (SELECT 1) always yields a row
    quotas = tuple(RoleQuota(r[0], r[1], r[2]) for r in json.loads(row["quotas_json"]))
    times = tuple(datetime.fromtimestamp(t, UTC) for t in json.loads(row["refusals_json"]))
    return Standing(settings_from_row(guild_id, row), quotas, times)
