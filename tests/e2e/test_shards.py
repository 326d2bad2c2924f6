"""Two bot processes share one PostgreSQL database, each running one of two Discord shards."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.e2e.processes import bot_env
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI
from tests.pg import PostgresServer

pytestmark = pytest.mark.e2e
START_S = 60.0  # two processes starting on a busy machine, one IDENTIFY 5 s after the other


@asynccontextmanager
async def bot_process(env: dict[str, str], cwd: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m bot` with `env` in the folder `cwd`; SIGTERM on exit, which must end it
    cleanly."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(process.communicate(), 30)
        log = out.decode()
        assert process.returncode == 0, log
        assert "Traceback" not in log, log


def global_syncs(fake: FakeDiscord) -> int:
    path = f"/applications/{fake.application_id}/commands"
    return sum(1 for r in fake.state.requests if r.method == "PUT" and r.path.endswith(path))


async def test_two_processes_each_run_their_shard_and_answer_its_guilds(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    url = pg_server.new_database()
    async with FakeDiscord() as fake, FakeOpenAI(api_key="sk-test") as ai:
        guilds = [fake.add_guild(f"Shard {i}", shard=(i, 2)) for i in (0, 1)]
        members = [fake.add_member(g, f"member{i}") for i, g in enumerate(guilds)]

        def env(shard: int) -> dict[str, str]:
            (tmp_path / f"shard{shard}").mkdir()
            base = bot_env(fake, ai, tmp_path / f"shard{shard}", guilds[shard].id)
            del base["DEV_GUILD_ID"]  # global commands, which one process syncs
            return {**base, "DATABASE_URL": url, "SHARD_COUNT": "2", "SHARD_IDS": str(shard)}

        hello = fake.hold_hello()
        async with bot_process(env(1), tmp_path / "shard1"):
            await fake.wait_until(lambda: fake.gateway.connections, START_S, "shard 1 connecting")
            assert global_syncs(fake) == 0, "the process without shard 0 synced the commands"
            async with bot_process(env(0), tmp_path / "shard0"):
                await fake.wait_until(
                    lambda: len(fake.gateway.connections) == 2, START_S, "shard 0 connecting"
                )
                hello.set()  # both IDENTIFY at once unless something spaces them
                await fake.wait_shards({(0, 2), (1, 2)}, START_S)
                for guild, member in zip(guilds, members, strict=True):
                    handle = await fake.slash(
                        "imagine", {"prompt": f"a fox in {guild.name}"}, member=member, guild=guild
                    )
                    await handle.wait_original(lambda m: bool(m.attachments), timeout=30)
    assert global_syncs(fake) == 1
    assert [(r.shard, r.bucket) for r in fake.identifies] in (
        [((0, 2), 0), ((1, 2), 0)],
        [((1, 2), 0), ((0, 2), 0)],
    )
    fake.assert_identifies_spaced()
    pg_server.drop_database(url)
