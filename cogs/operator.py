"""/operator (operators only, anywhere) and the gate: unserved guilds get "not enabled here"."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.clock import month_start
from bot.errors import InvalidOptionError, PermissionDeniedError
from bot.money import format_usd
from cogs._render import plain, shorten
from cogs.errors import report_error, send_private

if TYPE_CHECKING:
    from bot.app import ImageBot

SHOWN_GUILDS = 40  # lines of /operator guilds; a message holds 2,000 characters
EVERYWHERE = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True)


class Operator(commands.Cog):
    """Which guilds the bot serves, decided by the people who pay for it."""

    operator = app_commands.Group(
        name="operator",
        description="For the bot's operators: which servers it serves",
        allowed_contexts=EVERYWHERE,
    )

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot
        self.access = bot.services.access
        bot.tree.interaction_check = self._served  # type: ignore[method-assign]  # the tree's hook

    async def _served(self, interaction: discord.Interaction) -> bool:
        """Every command in a guild the bot does not serve answers "not enabled here"."""
        command = interaction.command
        mine = isinstance(command, app_commands.Command) and command.root_parent is self.operator
        if interaction.guild_id is None or mine:
            return True
        try:
            await self.access.check(interaction.guild_id)
        except Exception as exc:
            if interaction.type is not discord.InteractionType.autocomplete:
                await report_error(interaction, exc)
            return False
        return True

    def _require_operator(self, interaction: discord.Interaction) -> None:
        if not self.access.is_operator(interaction.user.id):
            raise PermissionDeniedError("use /operator (it is for the bot's operators)")

    @operator.command(name="guilds")
    async def guilds(self, interaction: discord.Interaction) -> None:
        """The servers the bot is in, their spend this month and whether they are served."""
        self._require_operator(interaction)
        month = month_start(self.bot.services.clock.now())
        known = {guild.id: guild.name for guild in self.bot.guilds}
        statuses = await self.access.statuses(sorted(known), month)
        statuses.sort(key=lambda s: (-s.month_micro_usd, s.guild_id))
        lines = [
            f"{'✅' if s.served else '⛔'} {plain(shorten(known[s.guild_id], 40))} "
            f"(`{s.guild_id}`) · {format_usd(s.month_micro_usd)} this month"
            for s in statuses[:SHOWN_GUILDS]
        ]
        if len(statuses) > SHOWN_GUILDS:
            lines.append(f"…and {len(statuses) - SHOWN_GUILDS} more")
        await send_private(interaction, "\n".join(lines) or "The bot is in no server yet.")

    @operator.command(name="allow")
    async def allow(self, interaction: discord.Interaction, guild: str) -> None:
        """Serve a server (its members may use the bot, within its budgets).

        Args:
            guild: The server's id (Developer Mode: right-click the server, Copy Server ID).
        """
        await self._decide(interaction, guild, allowed=True)

    @operator.command(name="deny")
    async def deny(self, interaction: discord.Interaction, guild: str) -> None:
        """Stop serving a server: every command there answers "not enabled here".

        Args:
            guild: The server's id (Developer Mode: right-click the server, Copy Server ID).
        """
        await self._decide(interaction, guild, allowed=False)

    async def _decide(self, interaction: discord.Interaction, guild: str, allowed: bool) -> None:
        self._require_operator(interaction)
        if not guild.strip().isdigit():
            raise InvalidOptionError("guild", "give the server's id, a number")
        guild_id = int(guild.strip())
        await self.access.decide(guild_id, allowed, by=interaction.user.id)
        known = self.bot.get_guild(guild_id)
        name = plain(known.name) if known else f"server {guild_id}"
        verb = "now served" if allowed else "no longer served"
        await send_private(interaction, f"{name} is {verb}.")


async def setup(bot: ImageBot) -> None:
    await bot.add_cog(Operator(bot))
