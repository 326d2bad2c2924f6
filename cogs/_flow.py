"""Acknowledge within Discord's 3 s, admit the job, and hand its interaction to delivery."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

import discord

from bot.errors import BotError, SafetyRefusalError
from bot.jobs.models import Admitted, Submission
from cogs import _render
from cogs._log import write_log
from cogs.errors import report_error

if TYPE_CHECKING:
    from bot.app import ImageBot
    from cogs._delivery import Delivery

log = logging.getLogger(__name__)

# How long admission may take before we defer instead of answering directly. Discord allows
# 3 s; this leaves a margin for the network.
ACK_BUDGET = 1.5

SubmissionFactory = Callable[[], Awaitable[Submission]]


def services_of(interaction: discord.Interaction) -> ImageBot:
    return cast("ImageBot", interaction.client)


async def admit(
    interaction: discord.Interaction, delivery: Delivery, prepare: SubmissionFactory
) -> Admitted | None:
    """Prepare and submit a job, acknowledging within Discord's 3 s whatever admission does.

    Quick admission answers directly: a refusal is one private message, and an admitted job's
    public status message later becomes its result. When downloads, decoding or a busy database
    take longer, we defer privately instead: a refusal then edits that private message, and the
    result is posted as a new public message (a public "thinking…" could not become private).
    """
    bot = services_of(interaction)
    deferral = _Deferral(interaction)
    failure: Exception | None = None
    try:
        admitted = await _prepare_and_submit(bot, delivery, interaction, prepare)
    except Exception as exc:  # answered below, once a deferral in flight is done
        failure = exc
    finally:
        deferral.stop()
    deferred = await deferral.finished()
    if failure is not None:
        if not isinstance(failure, BotError):
            raise failure  # the tree's error handler answers (and logs) it
        bot.services.ops.metrics.count_refusal(failure)
        await report_error(interaction, failure)
        if isinstance(failure, SafetyRefusalError) and interaction.guild_id is not None:
            line = _render.safety_log_line(interaction.user.id, failure)
            public = _render.safety_log_line(interaction.user.id, failure, prompt=False)
            await write_log(bot, interaction.guild_id, line, public_line=public)
        return None
    text = _render.status_text(admitted.job, position=admitted.position, estimate=admitted.estimate)
    try:
        if deferred:
            await interaction.edit_original_response(content=text)
        else:
            await interaction.response.send_message(text)
    except discord.HTTPException as exc:
        # The job is admitted and its result will be posted (in the channel if need be): an
        # error reply would have the member pay twice for "trying again".
        log.warning("job %s admitted, but its status could not be shown: %s", admitted.job.id, exc)
        deferred = True  # no public status message to become the result
    finally:
        await delivery.acknowledged(interaction, admitted.job.id, private=deferred, shown=text)
    if admitted.notice is not None and interaction.guild_id is not None:
        await write_log(bot, interaction.guild_id, admitted.notice)  # the moderators' channel
    await tell_unseen_results(interaction, admitted.unseen)
    return admitted


async def tell_unseen_results(interaction: discord.Interaction, waiting: tuple[int, ...]) -> None:
    """A member whose paid image could not be posted (no channel would take it, the token had
    expired) hears of it the next time they use the bot, privately, until `/job` sends it."""
    if not waiting:
        return
    jobs = ", ".join(f"`/job {job_id}`" for job_id in waiting[:5])
    text = f"🖼️ You have images that could not be posted; they are kept for you: {jobs}."
    try:
        await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException as exc:
        log.info("could not tell user %s of results %s: %s", interaction.user.id, waiting, exc)


class _Deferral:
    """Defers the interaction privately if admission has not finished within ACK_BUDGET.

    A timer rather than a task and `asyncio.wait` per interaction: admission usually finishes
    in milliseconds, and a cancelled timer costs next to nothing (benchmarks/admission.py).
    """

    def __init__(self, interaction: discord.Interaction) -> None:
        self._interaction = interaction
        self._defer: asyncio.Task[object] | None = None
        self._timer = asyncio.get_running_loop().call_later(ACK_BUDGET, self._start)

    def _start(self) -> None:
        response = self._interaction.response
        self._defer = asyncio.ensure_future(response.defer(ephemeral=True, thinking=True))

    def stop(self) -> None:
        """Admission is done: no deferral from now on."""
        self._timer.cancel()

    async def finished(self) -> bool:
        """True when a deferral was sent (and has been answered). A failed one is logged, not
        raised: what admission decided must still reach the member or the channel."""
        if self._defer is None:
            return False
        try:
            await self._defer
        except discord.HTTPException as exc:
            log.warning("deferring interaction %s failed: %s", self._interaction.id, exc)
        return True


async def _prepare_and_submit(
    bot: ImageBot,
    delivery: Delivery,
    interaction: discord.Interaction,
    prepare: SubmissionFactory,
) -> Admitted:
    submission = await prepare()
    admitted = await bot.services.jobs.submit(submission)
    # No await between submit and track: delivery must know the interaction before the job's
    # first event can need it.
    delivery.track(admitted.job.id, interaction)
    return admitted


def member_role_ids(interaction: discord.Interaction) -> tuple[int, ...]:
    user = interaction.user
    if isinstance(user, discord.Member):
        return tuple(role.id for role in user.roles)
    return ()


def server_permissions(interaction: discord.Interaction) -> discord.Permissions:
    """The member's server-wide permissions (from their roles), never the channel's overwrites:
    Manage Server granted in one channel does not make a moderator (README "Commands")."""
    permissions = getattr(interaction.user, "guild_permissions", None)  # a Member's; a User: none
    return (
        permissions if isinstance(permissions, discord.Permissions) else discord.Permissions.none()
    )


def is_moderator(interaction: discord.Interaction) -> bool:
    """Manage Server, checked on the server side: admins can change a command's defaults."""
    return server_permissions(interaction).manage_guild


def can_manage_messages(interaction: discord.Interaction) -> bool:
    permissions = server_permissions(interaction)
    return permissions.manage_messages or permissions.manage_guild
