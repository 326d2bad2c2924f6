"""Admission's one-trip read agrees with the stores' own reads of settings, quotas, refusals, and
points out a member's unposted results."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.db import Database, open_database
from bot.guild_settings import GuildConfig, GuildLimits, GuildSettings
from bot.guilds.service import GuildSettingsService
from bot.jobs.safety.cooldown import CooldownPolicy
from bot.store import jobs as store, safety
from bot.store.endings import EndState, JobEnding, end_job
from bot.store.safety import Style
from bot.store.standing import read_standing
from tests.unit.jobs.safety.test_community import START, _safety_refusal
from tests.unit.store.test_reservations import new_job


@pytest.fixture
async def db(db_target: Path | str) -> AsyncIterator[Database]:
    async with open_database(db_target) as database:
        yield database


async def test_a_guild_with_nothing_set_reads_as_the_defaults(db: Database) -> None:
    standing = await read_standing(db, 1, 10, START, START, START)
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

    standing = await read_standing(db, 1, 10, START, START, START)

    assert standing.settings == await guilds.get(1)
    assert standing.settings.styles == {"Noir": "film noir, {prompt}"}
    assert list(standing.role_quotas) == await guilds.role_quotas(1)
    lookback = CooldownPolicy.of(standing.settings.config).lookback
    expected = await safety.refusals_since(db, 1, START - lookback, 10)
    assert list(standing.refusal_times) == [r.at for r in expected]
    assert standing.refusal_times == (START - timedelta(minutes=3), START - timedelta(minutes=2))

    # The guild's own policy sets how far back the read goes, and none is read when it is off.
    await guilds.update_config(1, changed_by=99, cooldown_window_minutes=120)
    assert (await read_standing(db, 1, 10, START, START, START)).refusal_times[0] == old
    await guilds.update_config(1, changed_by=99, cooldown_refusals=0)
    assert (await read_standing(db, 1, 10, START, START, START)).refusal_times == ()


async def ended_job(
    db: Database, user: int, state: EndState, finished: datetime, *, posted: bool = False
) -> int:
    async with db.transaction() as conn:
        job = await store.insert_job(conn, replace(new_job(user, finished, 0, 1), guild_id=1))
        await store.mark_running(conn, job.id, finished)
        await end_job(conn, JobEnding(job.id, state, 0, int(state == "succeeded"), "actual",
                                      finished))  # fmt: skip
        if posted:
            await store.mark_delivered(conn, job.id, 5, 6, finished)
    return job.id


async def test_standing_points_out_the_members_results_no_message_showed(db: Database) -> None:
    hour_ago, long_ago = START - timedelta(hours=1), START - timedelta(days=31)
    waiting = await ended_job(db, 10, "succeeded", hour_ago)
    later = await ended_job(db, 10, "succeeded", START - timedelta(minutes=6))
    await ended_job(db, 10, "succeeded", START - timedelta(minutes=4))  # maybe being posted
    await ended_job(db, 10, "succeeded", hour_ago, posted=True)  # shown in a message
    await ended_job(db, 10, "failed", hour_ago)  # no result to point out
    await ended_job(db, 11, "succeeded", hour_ago)  # another member's
    await ended_job(db, 10, "succeeded", long_ago)  # before the window
    until = START - timedelta(minutes=5)
    standing = await read_standing(db, 1, 10, START, START - timedelta(days=30), until)
    assert standing.unseen == (waiting, later)
    assert (await read_standing(db, 2, 10, START, long_ago, until)).unseen == ()  # another guild
