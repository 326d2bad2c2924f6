"""/job (a job's status, or its result sent again) and /queue (your queued jobs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import JobNotFoundError
from bot.records import JobRecord
from cogs import _render
from cogs._flow import is_moderator
from cogs._posting import original_response, post_result
from cogs._views import cancel_view

if TYPE_CHECKING:
    from bot.app import ImageBot

MAX_LISTED = 10


class Jobs(commands.Cog):
    """Look up jobs and the queue."""

    def __init__(self, bot: ImageBot) -> None:
        self.services = bot.services

    @app_commands.command(name="job")
    @app_commands.guild_only()
    async def job(self, interaction: discord.Interaction, id: int) -> None:
        """A job's status, or its result sent again.

        Args:
            id: The job number (shown on every status and result).
        """
        job = await self.services.jobs.get(id, guild_id=interaction.guild_id or 0)
        if job.user_id != interaction.user.id and not is_moderator(interaction):
            raise JobNotFoundError(id)  # don't reveal other members' jobs
        stored = await self.services.jobs.result_files(job.id)
        if job.state != "succeeded" or not stored:
            position = self.services.jobs.position(job.id)
            await interaction.response.send_message(
                _render.job_summary(job, position), ephemeral=True
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        spoiler = (await self.services.guilds.get(job.guild_id)).config.spoilers
        await post_result(
            original_response(interaction, private=True), job, stored, spoiler=spoiler
        )

    @app_commands.command(name="queue")
    @app_commands.guild_only()
    async def queue(self, interaction: discord.Interaction) -> None:
        """Your queued jobs with their positions, and the server's queue length."""
        guild_id = interaction.guild_id or 0
        # Moderators see (and may cancel) everyone's: no other message shows them a Cancel button.
        everyone = is_moderator(interaction)
        user_id = None if everyone else interaction.user.id
        listed = (await self.services.jobs.queued_for(guild_id, user_id))[:MAX_LISTED]
        total = self.services.jobs.queue_length(guild_id)
        lines = [_queue_line(job, position, owner=everyone) for job, position in listed]
        head = f"{total} job(s) queued in this server."
        body = "\n".join(lines) if lines else "You have no jobs waiting."
        text = f"{head}\n{body}"
        none = discord.AllowedMentions.none()
        if listed:
            view = cancel_view([job.id for job, _ in listed])
            await interaction.response.send_message(
                text, view=view, ephemeral=True, allowed_mentions=none
            )
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=none)


def _queue_line(job: JobRecord, position: int, *, owner: bool) -> str:
    line = _render.job_summary(job, position)
    return f"{line} · <@{job.user_id}>" if owner else line


async def setup(bot: ImageBot) -> None:
    """Load the Jobs cog."""
    await bot.add_cog(Jobs(bot))
