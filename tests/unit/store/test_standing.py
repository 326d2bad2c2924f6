"""Admission's one-trip read agrees with the stores' own reads of settings, quotas, refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.db import Database, open_database
from bot.guild_settings import GuildConfig, GuildLimits, GuildSettings
from bot.guilds.service import GuildSettingsService
from bot.jobs.safety.cooldown import CooldownPolicy
from bot.store import safety
from bot.store.safety import Style
from bot.store.standing import read_standing
from tests.unit.jobs.safety.test_community import START, _safety_refusal


@pytest.fixture
async def db(db_target: Path | str) -> AsyncIterator[Database]:
    async with open_database(db_target) as database:
        yield database


async def test_a_guild_with_nothing_set_reads_as_the_defaults(db: Database) -> None:
    standing = await read_standing(db, 1, 10, START)
    assert standing.settings == GuildSettings(1, GuildLimits(), GuildConfig())
    assert standing.role_quotas == () and standing.refusal_times == ()


async def test_standing_matches_the_stores_reads(db: Database) -> None:
    clock = ManualClock(START)
    guilds = GuildSettingsService(db, clock)
    await guilds.update_limits(1, changed_by=99, daily_images=40, user_daily_images=5)
    await guilds.update_config(1, changed_by=99, cooldown_refusals=2, spoilers=True)
    await guilds.set_role_quota(1, 501, changed_by=99, user_daily_images=0,
                                user_daily_micro_usd=None)  # fmt: skip
    await guilds.set_role_quota(1, 500, changed_by=99, user_daily_images=50,
                                user_daily_micro_usd=10)  # fmt: skip
    async with db.transaction() as conn:
        await safety.put_style(conn, 1, Style("Noir", "film noir, {prompt}", 99, START))
    await guilds.update_limits(2, changed_by=99, daily_images=1)  # another guild's settings
    # Member 10's refusals: one too old to matter (the lookback is 15 + 30 minutes), a blocklist
    # one, and a safety refusal of a job the provider refused twice (it counts once); member
    # 11's is not theirs.
    old = START - timedelta(minutes=46)
    async with db.transaction() as conn:
        await safety.record_refusal(conn, guild_id=1, channel_id=5, user_id=10,
                                    kind="blocklist", detail="x", now=old)  # fmt: skip
        await safety.record_refusal(conn, guild_id=1, channel_id=5, user_id=10,
                                    kind="blocklist", detail="x",
                                    now=START - timedelta(minutes=3))  # fmt: skip
    await _safety_refusal(db, 7, START - timedelta(minutes=2))
    await _safety_refusal(db, 7, START - timedelta(minutes=1))
    async with db.transaction() as conn:
        await safety.record_refusal(conn, guild_id=1, channel_id=5, user_id=11,
                                    kind="screening", detail="x", now=START)  # fmt: skip

    standing = await read_standing(db, 1, 10, START)

    assert standing.settings == await guilds.get(1)
    assert standing.settings.styles == {"Noir": "film noir, {prompt}"}
    assert list(standing.role_quotas) == await guilds.role_quotas(1)
    lookback = CooldownPolicy.of(standing.settings.config).lookback
    expected = await safety.refusals_since(db, 1, START - lookback, 10)
    assert list(standing.refusal_times) == [r.at for r in expected]
    assert standing.refusal_times == (START - timedelta(minutes=3), START - timedelta(minutes=2))

    # The guild's own policy sets how far back the read goes, and none is read when it is off.
    await guilds.update_config(1, changed_by=99, cooldown_window_minutes=120)
    assert (await read_standing(db, 1, 10, START)).refusal_times[0] == old
    await guilds.update_config(1, changed_by=99, cooldown_refusals=0)
    assert (await read_standing(db, 1, 10, START)).refusal_times == ()
