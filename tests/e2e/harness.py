"""The end-to-end harness: our real bot (same composition root as `python -m bot`) against fakes."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
from PIL import Image

from bot.app import ImageBot, build_services, point_discord_at
from bot.clock import OffsetClock
from bot.jobs.relaxed.lane import RelaxedTiming
from bot.jobs.wiring import QueueSettings
from bot.provider.timeouts import ReadTimeouts
from bot.settings import Settings, load_settings
from tests.fakes.discord_interactions import InteractionHandle
from tests.fakes.discord_messages import RecordedMessage
from tests.fakes.discord_model import FakeChannel, FakeGuild, FakeMember
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI

READY_TIMEOUT = 10.0
# Every end-to-end world starts at this instant (then runs at real speed), so what the catalog
# offers and where UTC days begin never depend on the day the suite runs. A test that needs
# another date passes `start=` to `harness()`.
PINNED_START = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
# The relaxed lane on the test's real-time clock: a short gathering window and quick polls.
E2E_RELAXED = RelaxedTiming(window=0.3, first_poll=0.1, poll_factor=1.5, max_poll=1.0)
MANAGE_GUILD = discord.Permissions(manage_guild=True).value


@dataclass
class Harness:
    """The fakes, the world in them, and our bot, with helpers a test reads like a story."""

    discord: FakeDiscord
    openai: FakeOpenAI
    clock: OffsetClock
    settings: Settings
    guild: FakeGuild
    channel: FakeChannel
    alice: FakeMember
    bob: FakeMember
    mod: FakeMember
    bot: ImageBot | None = None
    relaxed: RelaxedTiming = E2E_RELAXED  # set before start_bot for another gathering window
    read_timeouts: ReadTimeouts | None = None  # e.g. scaled down, to outlast them in a test
    _stack: contextlib.AsyncExitStack | None = field(default=None, repr=False)

    async def start_bot(self, **settings_overrides: Any) -> ImageBot:
        """Build everything through the composition root and log in; return when ready."""
        if settings_overrides:
            self.settings = self.settings.model_copy(update=settings_overrides)
        stack = contextlib.AsyncExitStack()
        point_discord_at(self.settings)
        services = await stack.enter_async_context(
            build_services(
                self.settings,
                clock=self.clock,
                queue=self._queue_settings(),
                read_timeouts=self.read_timeouts,
            )
        )
        bot = ImageBot(services, guild_ready_timeout=0.05)
        await stack.enter_async_context(bot)
        task = asyncio.create_task(bot.start(self.settings.discord_token.get_secret_value()))
        ready = asyncio.create_task(bot.wait_until_ready())
        await asyncio.wait({task, ready}, timeout=READY_TIMEOUT, return_when="FIRST_COMPLETED")
        if not ready.done():
            ready.cancel()
            task.cancel()
            detail = task.exception() if task.done() else "timeout"
            raise AssertionError(f"the bot did not get ready: {detail!r}")
        stack.push_async_callback(_await_quietly, task)
        stack.push_async_callback(bot.close)
        self.bot, self._stack = bot, stack
        return bot

    def _queue_settings(self) -> QueueSettings:
        return replace(QueueSettings.from_settings(self.settings), relaxed=self.relaxed)

    async def stop_bot(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self.bot, self._stack = None, None

    def advance(self, seconds: float) -> None:
        """Move time forward for both the bot and Discord (e.g. past a token's 15 minutes)."""
        self.clock.advance(seconds)
        self.discord.advance(seconds)

    async def imagine(self, prompt: str, *, member: FakeMember | None = None, **options: Any):
        return await self.discord.slash(
            "imagine",
            {"prompt": prompt, **options},
            member=member or self.alice,
            guild=self.guild,
            channel=self.channel,
        )

    async def wait_result(
        self, handle: InteractionHandle, timeout: float = 15.0
    ) -> RecordedMessage:
        """The result message: the original response, or a public followup after a private defer."""

        def probe() -> RecordedMessage | None:
            record = handle.record
            for message in (record.original, *record.followups):
                if message is not None and message.attachments and message.embeds:
                    return message
            return None

        return await self.discord.wait_until(probe, timeout, "a result with images")

    async def private_reply(self, handle: InteractionHandle, timeout: float = 10.0):
        """The ephemeral message the member got: the original response or a followup."""

        def probe() -> RecordedMessage | None:
            record = handle.record
            candidates = [record.original, *record.followups]
            for message in candidates:
                if message is not None and message.ephemeral and not message.loading:
                    return message
            return None

        return await self.discord.wait_until(probe, timeout, "a private reply")

    async def private_notice(
        self, handle: InteractionHandle, timeout: float = 10.0
    ) -> RecordedMessage:
        """A failure told to the member alone (a refusal, the account's problem): an ephemeral
        followup, the public status removed."""
        record = handle.record

        def probe() -> RecordedMessage | None:
            told = next(
                (m for m in record.followups if m.ephemeral and "failed" in m.content), None
            )
            gone = record.original is None or record.original.deleted
            return told if told is not None and gone else None

        return await self.discord.wait_until(probe, timeout, "a private failure notice")

    async def eventually(self, check: Callable[[], bool], timeout: float = 5.0) -> None:
        """Poll a condition on state the bot writes after its Discord call (e.g. the database)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not check():
            if loop.time() > deadline:
                raise AssertionError("the condition did not become true in time")
            await asyncio.sleep(0.02)

    def ledger(self) -> list[sqlite3.Row]:
        """The api_calls rows, read through a separate connection as an operator would."""
        return _rows(self.settings.database_path, "SELECT * FROM api_calls ORDER BY id")

    def jobs(self) -> list[sqlite3.Row]:
        return _rows(self.settings.database_path, "SELECT * FROM jobs ORDER BY id")

    def private_channel(self, name: str) -> FakeChannel:
        """A channel only the moderators (and the bot) can read, e.g. a log channel."""
        channel = self.discord.add_channel(self.guild, name)
        view = discord.Permissions(view_channel=True).value
        self.discord.set_overwrite(channel, self.guild.everyone, deny=view)
        for role_id in self.mod.role_ids:
            self.discord.set_overwrite(channel, self.guild.roles[role_id], allow=view)
        self.discord.set_overwrite(channel, self.discord.bot_role(self.guild), allow=view)
        return channel

    def upload(self, filename: str, data: bytes, content_type: str | None = None) -> dict[str, Any]:
        return self.discord.add_attachment(filename, data, content_type)


def _rows(path: Path, sql: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


async def _await_quietly(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await task


def png(size: tuple[int, int] = (64, 64), colour: str = "red", mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, "PNG")
    return buffer.getvalue()


@contextlib.asynccontextmanager
async def harness(
    tmp_path: Path, *, start: datetime = PINNED_START, **overrides: Any
) -> AsyncIterator[Harness]:
    """Start the fakes and a world: one guild, #general, alice, bob and a moderator; the bot's
    clock and the fake provider's wall clock both read `start` at first."""
    clock = OffsetClock(start)
    wall = lambda: clock.now().timestamp()  # noqa: E731
    async with (
        FakeDiscord(clock=clock) as fake_discord,
        FakeOpenAI(api_key="sk-test", wall_clock=wall) as fake_ai,
    ):
        with fake_discord.patch_discord_py():
            guild = fake_discord.add_guild("Pixels")
            mods = fake_discord.add_role(guild, "Moderators", MANAGE_GUILD)
            channel = guild.text_channels[0]
            defaults: dict[str, Any] = {"dev_guild_id": guild.id, "openai_tier": 3}
            settings = load_settings(
                env_file=None,
                discord_token=fake_discord.token,
                openai_api_key="sk-test",
                openai_base_url=fake_ai.base_url,
                discord_api_base=fake_discord.api_base,
                discord_gateway_url=fake_discord.gateway_url,
                database_path=tmp_path / "bot.sqlite3",
                data_dir=tmp_path / "data",
                **{**defaults, **overrides},
            )
            h = Harness(
                discord=fake_discord,
                openai=fake_ai,
                clock=clock,
                settings=settings,
                guild=guild,
                channel=channel,
                alice=fake_discord.add_member(guild, "alice", global_name="Alice"),
                bob=fake_discord.add_member(guild, "bob", global_name="Bob"),
                mod=fake_discord.add_member(guild, "mod", roles=[mods], global_name="Mod"),
            )
            try:
                yield h
            finally:
                await h.stop_bot()


Predicate = Callable[[RecordedMessage], bool]


async def slash(
    h: Harness, command: str, member: FakeMember, sub: str | None = None, **options: Any
) -> Any:
    """Run `/command [sub]` as `member` in the harness's channel; `override_permissions=True`
    stands for a server that granted the command to members outside its default permissions."""
    override = bool(options.pop("override_permissions", False))
    return await h.discord.slash(
        command,
        options,
        subcommand=sub,
        member=member,
        guild=h.guild,
        channel=h.channel,
        override_permissions=override,
    )
