"""/style: the guild's named styles (add and remove: Manage Server; list: everyone)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import PermissionDeniedError
from cogs import _choices
from cogs._flow import is_moderator
from cogs._render import plain, quoted

if TYPE_CHECKING:
    from bot.app import ImageBot

STYLE_IN_LIST = 150  # characters of each style's text in /style list


class Styles(commands.Cog):
    """Named styles members can pick on /imagine and /edit."""

    style = app_commands.Group(name="style", description="This server's styles", guild_only=True)

    def __init__(self, bot: ImageBot) -> None:
        self.services = bot.services

    @style.command(name="add")
    async def add(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 32],
        prompt: app_commands.Range[str, 1, 1000],
    ) -> None:
        """Add a style, or replace the one of that name (Manage Server).

        Args:
            name: What members pick, e.g. "watercolor".
            prompt: The style's text; {prompt} marks where the member's prompt goes (else: first).
        """
        if not is_moderator(interaction):
            raise PermissionDeniedError("add styles (it needs Manage Server)")
        style, replaced = await self.services.safety.add_style(
            interaction.guild_id or 0, name, prompt, by=interaction.user.id
        )
        verb = "Replaced" if replaced else "Added"
        await interaction.response.send_message(
            f"{verb} the style **{plain(style.name)}**: {quoted(style.prompt, 300)}",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @style.command(name="remove")
    @app_commands.autocomplete(name=_choices.style_autocomplete)
    async def remove(self, interaction: discord.Interaction, name: str) -> None:
        """Remove a style (Manage Server).

        Args:
            name: The style to remove.
        """
        if not is_moderator(interaction):
            raise PermissionDeniedError("remove styles (it needs Manage Server)")
        removed = await self.services.safety.remove_style(interaction.guild_id or 0, name)
        await interaction.response.send_message(
            f"Removed the style **{plain(removed)}**.",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @style.command(name="list")
    async def list_styles(self, interaction: discord.Interaction) -> None:
        """This server's styles; pick one with the style option of /imagine and /edit."""
        styles = await self.services.safety.styles(interaction.guild_id or 0)
        lines = [f"**{plain(s.name)}** — {quoted(s.prompt, STYLE_IN_LIST)}" for s in styles]
        embed = discord.Embed(
            title=f"Styles ({len(styles)})",
            description=_fit(lines, 4000) or "No styles yet.",
            colour=discord.Colour.blurple(),
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)


def _fit(lines: list[str], limit: int) -> str:
    """As many whole lines as fit in `limit` characters."""
    kept: list[str] = []
    for line in lines:
        if sum(len(k) + 1 for k in kept) + len(line) > limit:
            break
        kept.append(line)
    return "\n".join(kept)


async def setup(bot: ImageBot) -> None:
    """Load the Styles cog."""
    await bot.add_cog(Styles(bot))
