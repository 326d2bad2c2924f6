"""Relaxed jobs survive kill -9 of the bot process: resumed, delivered, never in two batches."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import discord
import pytest

from tests.e2e.processes import bot_env
from tests.fakes.discord_messages import RecordedMessage
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _env(fake: FakeDiscord, ai: FakeOpenAI, tmp_path: Path, guild_id: int) -> dict[str, str]:
    return bot_env(fake, ai, tmp_path, guild_id)


async def _start(env: dict[str, str], tmp_path: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


def _rows(path: Path, sql: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


def _result_for(user_id: int) -> Callable[[RecordedMessage], bool]:
    return lambda m: f"<@{user_id}>" in m.content and bool(m.attachments)


@pytest.mark.parametrize("recorded", [True, False], ids=["batch-recorded", "create-unrecorded"])
async def test_kill_9_after_a_batch_was_created_then_a_restart_delivers_everything(
    tmp_path: Path, recorded: bool
) -> None:
    async with FakeDiscord() as fake, FakeOpenAI(api_key="sk-test") as ai:
        guild = fake.add_guild("Pixels")
        channel = guild.text_channels[0]
        mods = fake.add_role(guild, "Mods", discord.Permissions(manage_guild=True).value)
        mod = fake.add_member(guild, "mod", roles=[mods])
        members = [fake.add_member(guild, f"m{i}") for i in range(3)]
        env = _env(fake, ai, tmp_path, guild.id)
        where: dict[str, Any] = {"guild": guild, "channel": channel}
        process = await _start(env, tmp_path)
        try:
            await fake.wait_connected(timeout=20)
            await fake.wait_until(lambda: fake.synced_commands(guild) or None, 10, "a sync")
            setting = await fake.slash("config", {"relaxed": "default"}, subcommand="set",
                                       member=mod, **where)  # fmt: skip
            await setting.wait_original(timeout=10)
            ai.batches.hold = True  # the batch stays open until released
            if not recorded:
                ai.batches.create_delay = 60  # created, but the bot never hears back
            for i, member in enumerate(members):
                await fake.slash("imagine", {"prompt": f"fox {i}", "quality": "low"},
                                 member=member, **where)  # fmt: skip
            await fake.wait_until(lambda: ai.batches.batches or None, 30, "a batch")
            if recorded:
                db = tmp_path / "bot.sqlite3"
                sql = "SELECT 1 FROM batches WHERE openai_batch_id IS NOT NULL"
                await fake.wait_until(lambda: _rows(db, sql) or None, 15, "the batch recorded")
        finally:
            process.send_signal(signal.SIGKILL)
            await process.wait()
        ai.batches.create_delay = 0
        ai.batches.release()
        restarted = await _start(env, tmp_path)
        try:
            for member in members:
                await fake.wait_for_message(_result_for(member.id), timeout=40)
        finally:
            restarted.send_signal(signal.SIGTERM)
            await asyncio.wait_for(restarted.wait(), 30)
        assert len(ai.batches.batches) == 1, "the restart created a second batch"
        [batch] = ai.batches.batches.values()
        assert sorted(batch.custom_ids) == ["job-1", "job-2", "job-3"]
        jobs = _rows(tmp_path / "bot.sqlite3", "SELECT * FROM jobs ORDER BY id")
        assert [j["state"] for j in jobs] == ["succeeded"] * 3
        ledger = _rows(tmp_path / "bot.sqlite3", "SELECT * FROM api_calls ORDER BY id")
        assert sorted(r["job_id"] for r in ledger) == [1, 2, 3]  # one row each, none twice
        assert not ai.sync_requests
