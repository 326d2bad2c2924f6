"""Small typed stand-ins for what a cog callback touches: the interaction, the bot's services."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import discord
from discord import app_commands
from discord.ext import commands
from PIL import Image

from bot.app import ImageBot
from bot.clock import ManualClock
from bot.domain import ImageOptions
from bot.provider.profile import ProviderProfile
from bot.provider.profiles import load_profile
from bot.records import JobRecord

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
GUILD, CHANNEL, ALICE, BOB = 1, 2, 3, 4


@dataclass(frozen=True)
class Reply:
    """One message the member was sent through the interaction."""

    content: str | None
    ephemeral: bool
    embed: discord.Embed | None = None
    view: discord.ui.View | None = None


@dataclass
class FakeResponse:
    """`interaction.response`: records replies; answers once, as Discord allows."""

    replies: list[Reply] = field(default_factory=list)
    deferred: bool = False
    type: discord.InteractionResponseType | None = None

    def is_done(self) -> bool:
        return self.type is not None

    async def send_message(
        self,
        content: str | None = None,
        *,
        embed: discord.Embed | None = None,
        ephemeral: bool = False,
        view: discord.ui.View | None = None,
        allowed_mentions: discord.AllowedMentions | None = None,
    ) -> None:
        assert not self.is_done(), "an interaction is answered once"
        self.type = discord.InteractionResponseType.channel_message
        self.replies.append(Reply(content, ephemeral, embed, view))

    async def defer(self, *, ephemeral: bool = False, thinking: bool = False) -> None:
        assert not self.is_done(), "an interaction is answered once"
        self.type = discord.InteractionResponseType.deferred_channel_message
        self.deferred = True


@dataclass
class FakeUser:
    id: int
    # A Member's permissions from their roles (moderators are decided by these, not the channel's)
    guild_permissions: discord.Permissions = field(default_factory=discord.Permissions.none)


@dataclass
class FakeInteraction:
    """What the cogs read of a slash command's interaction (no Member: no roles)."""

    client: Any
    user: FakeUser = field(default_factory=lambda: FakeUser(ALICE))
    guild_id: int | None = GUILD
    channel_id: int | None = CHANNEL
    permissions: discord.Permissions = field(default_factory=discord.Permissions.none)
    response: FakeResponse = field(default_factory=FakeResponse)
    id: int = 99
    created_at: datetime = NOW
    command: None = None  # the error handler's log line names the command when there is one
    data: dict[str, Any] | None = None
    edits: list[str | None] = field(default_factory=list)

    async def edit_original_response(self, *, content: str | None = None) -> None:
        self.edits.append(content)


def interaction(
    services: object, *, user: int = ALICE, moderator: bool = False
) -> tuple[discord.Interaction, FakeInteraction]:
    """The interaction as a cog sees it, and the same object to read what it was sent."""
    bot = FakeBot(services)
    fake = FakeInteraction(client=bot, user=FakeUser(user))
    if moderator:
        fake.permissions = discord.Permissions(manage_guild=True)
        fake.user.guild_permissions = discord.Permissions(manage_guild=True)
    return cast(discord.Interaction, fake), fake


@dataclass
class FakeBot:
    """`ImageBot` as the cogs use it: the composition root's services, nothing more."""

    services: object


def bot_with(services: object) -> ImageBot:
    return cast(ImageBot, FakeBot(services))


async def run(
    command: app_commands.Command[Any, ..., Any],
    cog: commands.Cog,
    seen: discord.Interaction,
    **options: object,
) -> None:
    """Call a command's callback as the tree does: the cog, the interaction, the options."""
    callback = cast(Callable[..., Awaitable[None]], command.callback)
    await callback(cog, seen, **options)


@dataclass
class FakeImagesClient:
    """The provider client as the cogs see it: only the profile it speaks."""

    profile: ProviderProfile = field(default_factory=lambda: load_profile("openai", ""))


def clock() -> ManualClock:
    return ManualClock(NOW)


def job(
    job_id: int = 7, *, user: int = ALICE, state: str = "queued", prompt: str = "a fox"
) -> JobRecord:
    return JobRecord(
        id=job_id,
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=user,
        operation="generate",
        prompt=prompt,
        options=ImageOptions(model="gpt-image-2", size="1024x1024", n=1),
        state=state,  # type: ignore[arg-type]
        charged_micro_usd=0,
        charged_images=0,
        estimated_micro_usd=53_000,
        estimated_tokens=1767,
        created_at=NOW,
    )


@dataclass
class FakeAttachment:
    """A member's upload: what Discord declares about it, and its bytes."""

    filename: str
    data: bytes
    content_type: str | None = "image/png"

    @property
    def size(self) -> int:
        return len(self.data)

    async def read(self) -> bytes:
        return self.data


def png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buffer, format="PNG")
    return buffer.getvalue()
