"""Delivery: the Discord side of the job sink — live status, previews, results and notices."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import discord

from bot import outbox
from bot.errors import PromptRejectedError
from bot.jobs.events import JobEvent
from bot.jobs.models import JobRecord, StoredFile
from bot.uploads import EncodedFile, split_into_messages
from cogs import _render
from cogs._messages import user_message
from cogs._views import result_view

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)

# Interaction tokens live 15 minutes; stop using one a little before, so an upload in progress
# never races the expiry.
TOKEN_LIFETIME = timedelta(minutes=14, seconds=30)
STATUS_EDIT_INTERVAL = 3.0  # seconds between status edits of one job (webhook rate limits)
ACK_WAIT = 5.0  # how long an event waits for the command to finish acknowledging


@dataclass
class Origin:
    """The interaction whose original response shows a job, and its edit throttle."""

    interaction: discord.Interaction
    acknowledged: asyncio.Event = field(default_factory=asyncio.Event)
    private: bool = False  # the status message is ephemeral: the result goes in a new message
    last_edit: float = float("-inf")
    pending: str | None = None
    flusher: asyncio.Task[None] | None = None


class Delivery:
    """Implements the core's JobSink with Discord messages."""

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot
        self.services = bot.services
        self._origins: dict[int, Origin] = {}

    def track(self, job_id: int, interaction: discord.Interaction) -> None:
        self._origins[job_id] = Origin(interaction)

    def acknowledged(self, job_id: int, *, private: bool) -> None:
        origin = self._origins.get(job_id)
        if origin is not None:
            origin.private = private
            origin.acknowledged.set()

    async def on_event(self, event: JobEvent) -> None:
        handler = {
            "queued": self._on_status,
            "position": self._on_status,
            "started": self._on_status,
            "partial": self._on_partial,
            "succeeded": self._on_succeeded,
            "failed": self._on_failed,
            "unknown": self._on_unknown,
            "cancelled": self._on_cancelled,
        }[event.kind]
        try:
            await handler(event)
        except Exception:
            log.exception("delivering %s event of job %s failed", event.kind, event.job.id)

    # --- the original response, while the token lives ---------------------------------------

    async def _live_origin(self, job_id: int) -> Origin | None:
        origin = self._origins.get(job_id)
        if origin is None:
            return None
        try:
            await asyncio.wait_for(origin.acknowledged.wait(), ACK_WAIT)
        except TimeoutError:
            return None
        age = self.services.clock.now() - origin.interaction.created_at
        if age > TOKEN_LIFETIME:
            return None
        return origin

    async def _on_status(self, event: JobEvent) -> None:
        origin = await self._live_origin(event.job.id)
        if origin is None:
            return
        origin.pending = _render.status_text(event.job, position=event.position, estimate=None)
        wait = origin.last_edit + STATUS_EDIT_INTERVAL - self.services.clock.monotonic()
        if wait <= 0:
            await self._flush_status(origin)
        elif origin.flusher is None:
            origin.flusher = asyncio.create_task(self._flush_later(origin, wait))

    async def _flush_later(self, origin: Origin, wait: float) -> None:
        await self.services.clock.sleep(wait)
        origin.flusher = None
        await self._flush_status(origin)

    async def _flush_status(self, origin: Origin) -> None:
        text, origin.pending = origin.pending, None
        if text is None:
            return
        origin.last_edit = self.services.clock.monotonic()
        try:
            await origin.interaction.edit_original_response(content=text)
        except discord.HTTPException as exc:
            log.info("status edit failed: %s", exc)

    def _finish(self, job_id: int) -> Origin | None:
        origin = self._origins.pop(job_id, None)
        if origin is not None:
            origin.pending = None
            if origin.flusher is not None:
                origin.flusher.cancel()
        return origin

    async def _on_partial(self, event: JobEvent) -> None:
        origin = await self._live_origin(event.job.id)
        if origin is None or event.partial is None:
            return
        limit = origin.interaction.filesize_limit
        preview = await asyncio.to_thread(outbox.encode_preview, event.partial.data, limit)
        origin.last_edit = self.services.clock.monotonic()
        await origin.interaction.edit_original_response(
            content=f"🎨 Rendering job #{event.job.id}… (preview {event.partial.index + 1})",
            attachments=_render.to_files([preview]),
        )

    # --- results --------------------------------------------------------------------------

    async def _on_succeeded(self, event: JobEvent) -> None:
        job = event.job
        origin = await self._live_origin(job.id)
        self._finish(job.id)
        stored = await self.services.jobs.result_files(job.id)
        size = _render.made_size(stored)
        message = await self._post_result(job, origin, stored)
        if message is not None:
            await self.services.jobs.mark_delivered(
                job.id, channel_id=message.channel.id, message_id=message.id
            )
        link = message.jump_url if message else None
        await self._log(job, _render.log_line(job, size=size, link=link))

    async def _post_result(
        self, job: JobRecord, origin: Origin | None, stored: list[StoredFile]
    ) -> discord.Message | None:
        interaction = origin.interaction if origin else None
        channel = await self._channel(job.channel_id)
        limit = _file_limit(interaction, channel)
        files = await asyncio.to_thread(outbox.encode_results, [f.path for f in stored], limit)
        chunks = split_into_messages(files)
        embed = _render.result_embed(job, size=_render.made_size(stored))
        try:
            if origin is not None and origin.private:
                return await self._via_followup(job, origin.interaction, embed, chunks)
            if interaction is not None:
                return await self._via_interaction(interaction, embed, job.id, chunks)
            if channel is not None:
                return await self._via_channel(job, channel, embed, chunks)
            log.warning("channel %s of job %s is gone", job.channel_id, job.id)
        except discord.HTTPException as exc:
            log.warning("could not post job %s in channel %s: %s", job.id, job.channel_id, exc)
        await self._tell_undelivered(job, interaction)
        return None

    async def _via_interaction(
        self,
        interaction: discord.Interaction,
        embed: discord.Embed,
        job_id: int,
        chunks: list[list[EncodedFile]],
    ) -> discord.Message:
        first = await interaction.edit_original_response(
            content=None,
            embed=embed,
            attachments=_render.to_files(chunks[0]),
            view=result_view(job_id),
        )
        for chunk in chunks[1:]:
            await interaction.followup.send(files=_render.to_files(chunk))
        return first

    async def _via_followup(
        self,
        job: JobRecord,
        interaction: discord.Interaction,
        embed: discord.Embed,
        chunks: list[list[EncodedFile]],
    ) -> discord.Message:
        """A new public message; the private status then points to it."""
        first = await interaction.followup.send(
            content=f"<@{job.user_id}>",
            embed=embed,
            files=_render.to_files(chunks[0]),
            view=result_view(job.id),
            wait=True,
        )
        for chunk in chunks[1:]:
            await interaction.followup.send(files=_render.to_files(chunk))
        ready = f"✅ Job #{job.id} is ready: {first.jump_url}"
        await interaction.edit_original_response(content=ready)
        return first

    async def _via_channel(
        self,
        job: JobRecord,
        channel: discord.abc.Messageable,
        embed: discord.Embed,
        chunks: list[list[EncodedFile]],
    ) -> discord.Message:
        first = await channel.send(
            content=f"<@{job.user_id}> your image is ready (job #{job.id}).",
            embed=embed,
            files=_render.to_files(chunks[0]),
            view=result_view(job.id),
            allowed_mentions=discord.AllowedMentions(users=[discord.Object(job.user_id)]),
        )
        for chunk in chunks[1:]:
            await channel.send(files=_render.to_files(chunk))
        return first

    async def _tell_undelivered(
        self, job: JobRecord, interaction: discord.Interaction | None
    ) -> None:
        if interaction is None:
            return
        text = f"Your image is ready, but I couldn't post it here. It is kept: use `/job {job.id}`."
        try:
            await interaction.followup.send(text, ephemeral=True)
        except discord.HTTPException:
            log.info("could not tell user %s about job %s", job.user_id, job.id)

    # --- endings without a result ---------------------------------------------------------

    async def _on_failed(self, event: JobEvent) -> None:
        job = event.job
        reason = user_message(event.error) if event.error else None
        text = f"❌ Job #{job.id} failed: {reason or 'something went wrong on my side.'}"
        await self._notify(job, text)
        if isinstance(event.error, PromptRejectedError):
            await self._log(job, _render.refusal_log_line(job))

    async def _on_unknown(self, event: JobEvent) -> None:
        job = event.job
        await self._notify(
            job,
            f"⚠️ I lost track of job #{job.id} while it was being made (a restart or a lost "
            "connection), so I can't tell whether it finished. It was not sent again, so you "
            "won't pay twice; its estimated cost stays counted.",
        )

    async def _on_cancelled(self, event: JobEvent) -> None:
        await self._notify(event.job, f"🚫 Job #{event.job.id} was cancelled.")

    async def _notify(self, job: JobRecord, text: str) -> None:
        """Edit the status message while the token lives; otherwise mention the member."""
        origin = await self._live_origin(job.id)
        self._finish(job.id)
        try:
            if origin is not None:
                await origin.interaction.edit_original_response(content=text, attachments=[])
                return
            channel = await self._channel(job.channel_id)
            if channel is not None:
                await channel.send(
                    f"<@{job.user_id}> {text}",
                    allowed_mentions=discord.AllowedMentions(users=[discord.Object(job.user_id)]),
                )
        except discord.HTTPException as exc:
            log.info("could not notify user %s about job %s: %s", job.user_id, job.id, exc)

    # --- helpers --------------------------------------------------------------------------

    async def _channel(self, channel_id: int) -> discord.abc.Messageable | None:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except discord.HTTPException:
                return None
        return channel if isinstance(channel, discord.abc.Messageable) else None

    async def _log(self, job: JobRecord, line: str) -> None:
        settings = await self.services.guilds.get(job.guild_id)
        channel_id = settings.config.log_channel_id
        if channel_id is None:
            return
        channel = await self._channel(channel_id)
        if channel is None:
            return
        try:
            await channel.send(line, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.info("could not write to log channel %s: %s", channel_id, exc)


def _file_limit(
    interaction: discord.Interaction | None, channel: discord.abc.Messageable | None
) -> int:
    if interaction is not None:
        return interaction.filesize_limit
    guild = getattr(channel, "guild", None)
    return guild.filesize_limit if guild is not None else 10 * 1024 * 1024
