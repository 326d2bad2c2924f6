"""/blocklist: words and phrases a prompt may not contain (Manage Server)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import PermissionDeniedError
from cogs._flow import is_moderator
from cogs._render import plain, shorten

if TYPE_CHECKING:
    from bot.app import ImageBot

SHOWN_CHARS = 3900  # an embed description holds 4096


def _require_moderator(interaction: discord.Interaction, action: str) -> None:
    # default_permissions is only a default that server admins can change: check here too.
    if not is_moderator(interaction):
        raise PermissionDeniedError(f"{action} (it needs Manage Server)")


def _quoted(phrases: tuple[str, ...]) -> str:
    return ", ".join(f"“{plain(p)}”" for p in phrases)


class Blocklist(commands.Cog):
    """The guild's blocked words."""

    blocklist = app_commands.Group(
        name="blocklist",
        description="Words and phrases prompts may not contain",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: ImageBot) -> None:
        self.services = bot.services

    @blocklist.command(name="add")
    async def add(
        self, interaction: discord.Interaction, words: app_commands.Range[str, 1, 2000]
    ) -> None:
        """Block words or phrases (comma-separated); look-alike letters are caught too.

        Args:
            words: Comma-separated words or phrases, e.g. "gore, bad thing".
        """
        _require_moderator(interaction, "change the blocklist")
        change = await self.services.safety.block(
            interaction.guild_id or 0, words, by=interaction.user.id
        )
        lines = []
        if change.changed:
            lines.append(f"Blocked {_quoted(change.changed)}.")
        if change.unchanged:
            lines.append(f"Already blocked: {_quoted(change.unchanged)}.")
        await _reply(interaction, " ".join(lines))

    @blocklist.command(name="remove")
    async def remove(
        self, interaction: discord.Interaction, words: app_commands.Range[str, 1, 2000]
    ) -> None:
        """Unblock words or phrases (comma-separated).

        Args:
            words: Comma-separated words or phrases to allow again.
        """
        _require_moderator(interaction, "change the blocklist")
        change = await self.services.safety.unblock(interaction.guild_id or 0, words)
        lines = []
        if change.changed:
            lines.append(f"Unblocked {_quoted(change.changed)}.")
        if change.unchanged:
            lines.append(f"Not on the blocklist: {_quoted(change.unchanged)}.")
        await _reply(interaction, " ".join(lines))

    @blocklist.command(name="show")
    async def show(self, interaction: discord.Interaction) -> None:
        """The words and phrases this server blocks."""
        _require_moderator(interaction, "see the blocklist")
        entries = await self.services.safety.blocklist(interaction.guild_id or 0)
        # Inside a code span Discord renders no markdown, link or mention; a backtick would end it.
        shown = ", ".join(f"`{e.phrase.replace('`', 'ˋ')}`" for e in entries)
        text = shorten(shown, SHOWN_CHARS) or "—"
        embed = discord.Embed(
            title=f"Blocklist ({len(entries)})", description=text, colour=discord.Colour.blurple()
        )
        embed.set_footer(text="Matched as whole words, ignoring case, accents and look-alikes.")
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def _reply(interaction: discord.Interaction, text: str) -> None:
    await interaction.response.send_message(
        shorten(text, 2000), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
    )


async def setup(bot: ImageBot) -> None:
    """Load the Blocklist cog."""
    await bot.add_cog(Blocklist(bot))
