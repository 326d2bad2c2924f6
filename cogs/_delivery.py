"""Delivery: the Discord side of the job sink — live status, previews, where results go, notices."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord

from bot.errors import AccountProblemError, AnswerLostError, PromptRejectedError
from bot.imaging import outbox
from bot.jobs.events import JobEvent
from bot.records import JobRecord, StoredFile
from cogs import _render
from cogs._log import write_log
from cogs._messages import user_message
from cogs._origins import Origins
from cogs._posting import (
    channel_message,
    direct_message,
    original_response,
    post_result,
    public_followup,
)
from cogs._reply import Reply
from cogs._status import Origin, Status
from cogs._views import reroll_view
from cogs._working import StillWorking

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)

# Failures told to the member alone (README, "Members understand every refusal"; refusals never
# in public).
PRIVATE_FAILURES = (AccountProblemError, PromptRejectedError)
RESTARTED = "the bot restarted or lost its connection while it was being made"
INTERNAL = "something went wrong on my side while it was being made"


class Delivery:
    """Implements the core's JobSink with Discord messages."""

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot
        self.services = bot.services
        self.origins = Origins(bot)
        self._working = StillWorking(self.services.clock, self._show_working)

    def track(self, job_id: int, interaction: discord.Interaction) -> None:
        self.origins.track(job_id, interaction)

    async def acknowledged(
        self, interaction: discord.Interaction, job_id: int, *, private: bool, shown: str
    ) -> None:
        """The command's reply (showing `shown`) is out; it counts as the first status edit."""
        await self.origins.acknowledged(interaction, job_id, private=private, shown=shown)

    async def on_event(self, event: JobEvent) -> None:
        if event.kind == "queued":
            return  # the command's own reply shows it (cogs/_flow.py): nothing to edit
        handler = {
            "position": self._on_status,
            "started": self._on_started,
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

    async def _on_status(self, event: JobEvent) -> None:
        if event.kind != "started":  # back in the queue (a 429): no longer working on it
            self._working.stop(event.job.id)
        origin = await self.origins.live(event.job)
        if origin is None:
            return
        text = _render.status_text(
            event.job, position=event.position, estimate=None, pacing=event.pacing
        )
        await origin.show(Status(text))

    async def _on_started(self, event: JobEvent) -> None:
        await self._on_status(event)
        if event.job.id in self.origins:
            self._working.start(event.job)

    async def _show_working(self, job: JobRecord, minutes: int) -> bool:
        origin = await self.origins.live(job)
        if origin is None:
            return False
        text = _render.status_text(job, position=None, estimate=None, working_minutes=minutes)
        await origin.show(Status(text))
        return True

    async def _finish(self, job_id: int) -> None:
        self._working.stop(job_id)
        await self.origins.close(job_id)

    async def _on_partial(self, event: JobEvent) -> None:
        origin = await self.origins.live(event.job)
        if origin is None or event.partial is None:
            return
        limit = origin.reply.filesize_limit
        preview = await asyncio.to_thread(outbox.encode_preview, event.partial.data, limit)
        if await self._spoilers(event.job):  # a preview shows what the result will
            preview = dataclasses.replace(preview, filename=f"SPOILER_{preview.filename}")
        text = f"🎨 Rendering job #{event.job.id}… (preview {event.partial.index + 1})"
        await origin.show(Status(text, preview))

    # --- results --------------------------------------------------------------------------

    async def _on_succeeded(self, event: JobEvent) -> None:
        job, results = event.job, event.results
        origin = await self.origins.live(job)
        await self._finish(job.id)
        message = await self._route_result(job, origin, results)
        if message is not None:
            await self.services.jobs.mark_delivered(
                job.id, channel_id=message.channel.id, message_id=message.id
            )
        link = message.jump_url if message else None
        await self._log(job, _render.log_line(job, size=_render.made_size(results), link=link))

    async def _route_result(
        self, job: JobRecord, origin: Origin | None, results: Sequence[StoredFile]
    ) -> discord.Message | None:
        """Where the result goes: the original response while its token lives (a new public
        followup when that response is private), else a channel message with a mention, else
        a note pointing to /job. Returns the message the result is in, if any."""
        spoiler = await self._spoilers(job)
        if origin is not None:
            reply = origin.reply
            try:
                if not origin.private:
                    target = original_response(reply)
                    return await post_result(target, job, results, spoiler=spoiler)
                target = public_followup(reply, job.user_id)
                first = await post_result(target, job, results, spoiler=spoiler)
                with contextlib.suppress(discord.HTTPException):  # the result itself is out
                    await reply.edit(content=f"✅ Job #{job.id} is ready: {first.jump_url}")
                return first
            except discord.HTTPException as exc:
                # E.g. a moderator deleted the status message: the channel may still take it.
                log.info("could not show job %s through its interaction: %s", job.id, exc)
        channel = await self._channel(job.channel_id)
        try:
            if channel is not None:
                target = channel_message(channel, job)
                return await post_result(target, job, results, spoiler=spoiler)
            log.warning("channel %s of job %s is gone", job.channel_id, job.id)
        except discord.HTTPException as exc:
            log.warning("could not post job %s in channel %s: %s", job.id, job.channel_id, exc)
        if origin is None and job.speed == "relaxed":
            # A batch outlives the interaction's 15 minutes as a rule: with no channel to take
            # it, the paid image goes to its member directly.
            sent = await self._direct_message(job, results, spoiler)
            if sent is not None:
                return sent
        await self._tell_undelivered(job, origin.reply if origin else None, channel)
        return None

    async def _direct_message(
        self, job: JobRecord, results: Sequence[StoredFile], spoiler: bool
    ) -> discord.Message | None:
        """The result in a direct message to its member (who may not accept DMs from the bot:
        then their next command reminds them, cogs/_flow.py)."""
        try:
            user = self.bot.get_user(job.user_id) or await self.bot.fetch_user(job.user_id)
            dm = await user.create_dm()
            return await post_result(direct_message(dm, job), job, results, spoiler=spoiler)
        except discord.HTTPException as exc:
            log.info("could not send job %s to user %s directly: %s", job.id, job.user_id, exc)
            return None

    async def _tell_undelivered(
        self,
        job: JobRecord,
        reply: Reply | None,
        channel: discord.abc.Messageable | None,
    ) -> None:
        """Point the member to /job: privately while the token lives, else by a mention (a
        channel that refuses files may still take text)."""
        text = f"Your image is ready, but I couldn't post it here. It is kept: use `/job {job.id}`."
        if reply is None:
            await _mention(job, channel, text)
            return
        try:
            await reply.followup.send(text, ephemeral=True)
        except discord.HTTPException:
            log.info("could not tell user %s about job %s", job.user_id, job.id)

    # --- endings without a result ---------------------------------------------------------

    async def _on_failed(self, event: JobEvent) -> None:
        job = event.job
        reason = user_message(event.error) if event.error else None
        if reason is None and event.error is None and not job.charged_micro_usd:
            reason = "nothing was made and nothing was charged."  # told again after a restart
        text = f"❌ Job #{job.id} failed: {reason or 'something went wrong on my side.'}"
        if isinstance(event.error, PRIVATE_FAILURES):
            await self._notify_privately(job, text)
        else:
            await self._notify(job, text)
        if isinstance(event.error, PromptRejectedError):
            public = _render.refusal_log_line(job, prompt=False)
            await write_log(
                self.bot, job.guild_id, _render.refusal_log_line(job), public_line=public
            )

    async def _on_unknown(self, event: JobEvent) -> None:
        job = event.job
        if isinstance(event.error, AnswerLostError):
            why = event.error.reason
        else:  # None: a restart or a stop cut the call short; otherwise a bug of ours
            why = RESTARTED if event.error is None else INTERNAL
        # Sending it again stays the member's choice: a Re-roll is a new job, charged on its own.
        await self._notify(job, _render.in_doubt_text(job, why), reroll_view(job.id))

    async def _notify_privately(self, job: JobRecord, text: str) -> None:
        """Tell only the member (refusals, the account's problems): the channel never shows it.

        While the token lives the public status goes and an ephemeral message says why; after
        that a direct message, or nothing in public if the member takes none."""
        origin = await self.origins.live(job)
        await self._finish(job.id)
        if origin is not None:
            try:
                if origin.private:  # the status is already the member's alone
                    await origin.reply.edit(content=text, attachments=[])
                else:
                    await origin.reply.followup.send(text, ephemeral=True)
                    with contextlib.suppress(discord.HTTPException):  # it may be gone already
                        await origin.reply.delete()
                return
            except discord.HTTPException as exc:
                log.info("could not tell user %s privately of job %s: %s", job.user_id, job.id, exc)
        try:
            user = self.bot.get_user(job.user_id) or await self.bot.fetch_user(job.user_id)
            await user.send(text)
        except discord.HTTPException as exc:
            log.info("could not message user %s about job %s: %s", job.user_id, job.id, exc)

    async def _on_cancelled(self, event: JobEvent) -> None:
        await self._notify(event.job, f"🚫 Job #{event.job.id} was cancelled.")

    async def _notify(self, job: JobRecord, text: str, view: discord.ui.View | None = None) -> None:
        """Edit the status message while the token lives; otherwise mention the member. Once
        shown, the ending is recorded as told; until then every start-up tells it again."""
        origin = await self.origins.live(job)
        await self._finish(job.id)
        shown = False
        if origin is not None:
            try:
                await origin.reply.edit(
                    content=text, attachments=[], view=view or discord.utils.MISSING
                )
                shown = True
            except discord.HTTPException as exc:  # e.g. the status message was deleted
                log.info("could not edit the status of job %s: %s", job.id, exc)
        if not shown:
            shown = await _mention(job, await self._channel(job.channel_id), text, view)
        if shown:
            await self.services.jobs.mark_told(job.id)

    # --- helpers --------------------------------------------------------------------------

    async def _channel(self, channel_id: int) -> discord.abc.Messageable | None:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except discord.HTTPException:
                return None
        return channel if isinstance(channel, discord.abc.Messageable) else None

    async def _spoilers(self, job: JobRecord) -> bool:
        """Whether the job's guild posts results (and previews) as spoilers."""
        return (await self.services.guilds.get(job.guild_id)).config.spoilers

    async def _log(self, job: JobRecord, line: str) -> None:
        await write_log(self.bot, job.guild_id, line)


async def _mention(
    job: JobRecord,
    channel: discord.abc.Messageable | None,
    text: str,
    view: discord.ui.View | None = None,
) -> bool:
    """Tell the job's member in its channel, with a ping so that they notice it; True if sent."""
    if channel is None:
        return False
    try:
        await channel.send(
            f"<@{job.user_id}> {text}",
            allowed_mentions=discord.AllowedMentions(users=[discord.Object(job.user_id)]),
            view=view or discord.utils.MISSING,
        )
    except discord.HTTPException as exc:
        log.info("could not notify user %s about job %s: %s", job.user_id, job.id, exc)
        return False
    return True
