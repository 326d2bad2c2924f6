"""A job's original response and followups: through the live interaction or its stored token."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, cast

import discord

from bot.records import InteractionOrigin

# Discord's name for an interaction's original response in webhook message paths: editing it
# "functions the same as Edit Webhook Message"; discord.py types the id as int and formats it
# into the path as given.
# https://discord.com/developers/docs/interactions/receiving-and-responding#edit-original-interaction-response
ORIGINAL = cast("int", "@original")
MISSING = discord.utils.MISSING
BASE_FILE_LIMIT = 10 * 1024 * 1024  # bytes; Discord's upload limit of a guild without boosts


class Reply(Protocol):
    """What delivery uses of an interaction: edit or delete its original response, send
    followups, when it was created (its token lives 15 minutes from then), its upload limit."""

    @property
    def followup(self) -> discord.Webhook: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def filesize_limit(self) -> int: ...

    async def edit(
        self,
        *,
        content: str | None = ...,
        embed: discord.Embed | None = ...,
        attachments: Sequence[discord.File] = ...,
        view: discord.ui.View | None = ...,
    ) -> discord.Message:
        """Edit the original response (raises discord.HTTPException)."""
        ...

    async def delete(self) -> None:
        """Delete the original response (raises discord.HTTPException)."""
        ...


class LiveReply:
    """The interaction this process received."""

    __slots__ = ("_interaction",)

    def __init__(self, interaction: discord.Interaction) -> None:
        self._interaction = interaction

    @property
    def followup(self) -> discord.Webhook:
        return self._interaction.followup

    @property
    def created_at(self) -> datetime:
        return self._interaction.created_at

    @property
    def filesize_limit(self) -> int:
        return self._interaction.filesize_limit

    async def edit(
        self,
        *,
        content: str | None = MISSING,
        embed: discord.Embed | None = MISSING,
        attachments: Sequence[discord.File] = MISSING,
        view: discord.ui.View | None = MISSING,
    ) -> discord.Message:
        return await self._interaction.edit_original_response(
            content=content, embed=embed, attachments=attachments, view=view
        )

    async def delete(self) -> None:
        await self._interaction.delete_original_response()


class StoredReply:
    """An interaction another process received, rebuilt from its stored token (in cluster mode):
    the same original response, reached over REST through the interaction's webhook. The token
    never appears in a repr."""

    __slots__ = ("created_at", "filesize_limit", "followup")

    def __init__(self, client: discord.Client, origin: InteractionOrigin, guild_id: int) -> None:
        hook = discord.Webhook.partial(origin.application_id, origin.token, client=client)
        # An interaction's webhook, as Interaction.followup builds it: ephemeral followups allowed.
        hook.type = discord.WebhookType.application
        self.followup = hook
        self.created_at = origin.created_at
        # The guild's upload limit when this process has it cached, else the base one (results
        # are fitted under it).
        guild = client.get_guild(guild_id)
        self.filesize_limit = guild.filesize_limit if guild is not None else BASE_FILE_LIMIT

    def __repr__(self) -> str:
        return f"<StoredReply created_at={self.created_at.isoformat()}>"

    async def edit(
        self,
        *,
        content: str | None = MISSING,
        embed: discord.Embed | None = MISSING,
        attachments: Sequence[discord.File] = MISSING,
        view: discord.ui.View | None = MISSING,
    ) -> discord.Message:
        return await self.followup.edit_message(
            ORIGINAL, content=content, embed=embed, attachments=attachments, view=view
        )

    async def delete(self) -> None:
        await self.followup.delete_message(ORIGINAL)
