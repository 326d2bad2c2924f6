"""/job (a job's status, or its result sent again) and /queue (your queued jobs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import JobNotFoundError
from bot.records import JobRecord, RelaxedJob
from cogs import _render
from cogs._fit import CONTENT, fit_lines
from cogs._flow import is_moderator
from cogs._posting import original_response, post_result
from cogs._reply import LiveReply
from cogs._views import cancel_view
from cogs.errors import send_private

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
        if job.state == "succeeded" and not stored:
            days = self.services.settings.result_retention_days
            await send_private(
                interaction,
                f"{_render.job_summary(job, None)}\nIts images are no longer kept: results are "
                f"kept for {days} days, and Delete on a result removes them at once.",
            )
            return
        if job.state != "succeeded" or not stored:
            position = self.services.jobs.position(job.id)
            await interaction.response.send_message(
                _render.job_summary(job, position), ephemeral=True
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        spoiler = (await self.services.guilds.get(job.guild_id)).config.spoilers
        shown = await post_result(
            original_response(LiveReply(interaction), private=True), job, stored, spoiler=spoiler
        )
        if job.delivered_at is None and job.user_id == interaction.user.id:
            # The member has their image now: no more "could not be posted" reminders.
            await self.services.jobs.mark_delivered(
                job.id, channel_id=shown.channel.id, message_id=shown.id
            )

    @app_commands.command(name="queue")
    @app_commands.guild_only()
    async def queue(self, interaction: discord.Interaction) -> None:
        """Your queued jobs with their positions, and the server's queue length."""
        guild_id = interaction.guild_id or 0
        # Moderators see (and may cancel) everyone's: no other message shows them a Cancel button.
        everyone = is_moderator(interaction)
        user_id = None if everyone else interaction.user.id
        # Every job is counted; as many lines as fit are shown (cogs/_fit.py), buttons for the
        # first MAX_LISTED.
        listed = await self.services.jobs.queued_for(guild_id, user_id)
        relaxed = await self.services.jobs.relaxed_for(guild_id, user_id)
        total = self.services.jobs.queue_length(guild_id)
        lines = [_queue_line(job, position, owner=everyone) for job, position in listed]
        lines += [_relaxed_line(r, owner=everyone) for r in relaxed]
        head = f"{_render.count(total, 'job')} queued in this server."
        if relaxed:
            head += f" {_render.count(len(relaxed), 'relaxed job')} waiting for their batch."
        body = fit_lines(lines, CONTENT - len(head) - 1) if lines else "You have no jobs waiting."
        text = f"{head}\n{body}"
        none = discord.AllowedMentions.none()
        # Relaxed jobs can be cancelled only until they are in a batch.
        cancellable = [job.id for job, _ in listed[:MAX_LISTED]]
        cancellable += [r.job.id for r in relaxed if r.batch_status is None][:MAX_LISTED]
        if cancellable:
            view = cancel_view(cancellable[:MAX_LISTED])
            await interaction.response.send_message(
                text, view=view, ephemeral=True, allowed_mentions=none
            )
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=none)


def _queue_line(job: JobRecord, position: int, *, owner: bool) -> str:
    line = _render.job_summary(job, position)
    return f"{line} · <@{job.user_id}>" if owner else line


def _relaxed_line(waiting: RelaxedJob, *, owner: bool) -> str:
    status = waiting.batch_status
    state = "gathering a batch" if status is None else f"batch {status.replace('_', ' ')}"
    line = _render.job_summary(waiting.job, None, relaxed_state=state)
    return f"{line} · <@{waiting.job.user_id}>" if owner else line


async def setup(bot: ImageBot) -> None:
    """Load the Jobs cog."""
    await bot.add_cog(Jobs(bot))
