"""Self-tests of the fake Discord's shards: real discord.py sharded clients, end to end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import discord
import pytest
from discord.ext import commands

from tests.fakes.discord_server import FakeDiscord

pytestmark = pytest.mark.e2e


class ShardBot(commands.AutoShardedBot):
    """Runs some shards of a sharded bot; /where says which shard answered."""

    def __init__(self, shard_ids: list[int], shard_count: int, *, sync: bool) -> None:
        super().__init__(
            command_prefix="!",
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
            help_command=None,
            shard_ids=shard_ids,
            shard_count=shard_count,
        )
        self.sync = sync

        @self.tree.command(description="Say which shard answered")
        async def where(interaction: discord.Interaction) -> None:
            assert interaction.guild is not None
            await interaction.response.send_message(f"shard {interaction.guild.shard_id}")

    async def setup_hook(self) -> None:
        if self.sync:
            await self.tree.sync()


@contextlib.asynccontextmanager
async def started(fake: FakeDiscord, *bots: ShardBot) -> AsyncIterator[None]:
    """Start the bots together; close them on exit."""
    async with contextlib.AsyncExitStack() as stack:
        tasks = []
        for bot in bots:
            await stack.enter_async_context(bot)
            tasks.append(asyncio.create_task(bot.start(fake.token)))
        try:
            await asyncio.wait_for(asyncio.gather(*(b.wait_until_ready() for b in bots)), 10)
            yield
        finally:
            for bot in bots:
                await bot.close()
            await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        with server.patch_discord_py():
            yield server


async def test_each_shard_gets_its_guilds_and_their_interactions(fake: FakeDiscord) -> None:
    fake.state.max_concurrency = 2  # both shards may IDENTIFY at once
    guilds = [fake.add_guild(f"on shard {i}", shard=(i, 2)) for i in (0, 1, 0)]
    members = [fake.add_member(g, f"member{i}") for i, g in enumerate(guilds)]
    first, second = ShardBot([0], 2, sync=True), ShardBot([1], 2, sync=False)
    async with started(fake, first, second):
        assert fake.gateway.shards() == {(0, 2), (1, 2)}
        assert {g.id for g in first.guilds} == {guilds[0].id, guilds[2].id}
        assert {g.id for g in second.guilds} == {guilds[1].id}
        for guild, member in zip(guilds, members, strict=True):
            handle = await fake.slash("where", member=member, guild=guild)
            answer = await handle.wait_original()
            assert answer.content == f"shard {(guild.id >> 22) % 2}"
            assert guild.on_shard((guild.id >> 22) % 2, 2)
        late = fake.add_guild("joined later", shard=(1, 2))
        await fake.wait_until(lambda: second.get_guild(late.id), 5, "the new guild on shard 1")
        assert first.get_guild(late.id) is None
    assert [r.shard for r in sorted(fake.identifies, key=lambda r: r.shard)] == [(0, 2), (1, 2)]
    assert {r.bucket for r in fake.identifies} == {0, 1}
    fake.assert_identifies_spaced()
    fake.assert_no_violations()


async def test_two_identifies_of_one_bucket_within_5_s_are_flagged(fake: FakeDiscord) -> None:
    fake.add_guild("somewhere", shard=(0, 2))
    # discord.py spaces IDENTIFYs only within one client: two processes start together.
    async with started(fake, ShardBot([0], 2, sync=True), ShardBot([1], 2, sync=False)):
        pass
    assert [r.bucket for r in fake.identifies] == [0, 0]
    assert len(fake.gateway.identify_breaches) == 1
    with pytest.raises(AssertionError, match="IDENTIFYs too close"):
        fake.assert_identifies_spaced()


async def test_get_gateway_bot_gives_the_shard_count_and_session_start_limit(
    fake: FakeDiscord,
) -> None:
    fake.state.recommended_shards, fake.state.max_concurrency = 4, 16
    bot = ShardBot([0], 1, sync=False)
    async with bot:
        await bot.login(fake.token)
        shards, url, limit = await bot.http.get_bot_gateway()
    assert (shards, url) == (4, fake.gateway_url)
    assert limit["max_concurrency"] == 16
    assert limit["remaining"] == limit["total"] == 1000
