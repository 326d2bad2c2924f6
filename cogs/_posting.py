"""Posting a job's result: files under the upload limit, at most ten per message, the buttons.

Where the result goes (a Target) is the caller's choice: delivery routes it (cogs/_delivery.py),
/job sends it again privately (cogs/jobs.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import discord

from bot.imaging import outbox
from bot.imaging.uploads import EncodedFile, split_into_messages
from bot.records import JobRecord, StoredFile
from cogs import _render
from cogs._reply import Reply
from cogs._views import result_view

log = logging.getLogger(__name__)

First = Callable[[discord.Embed, list[discord.File], discord.ui.View], Awaitable[discord.Message]]
More = Callable[[list[discord.File]], Awaitable[None]]
DM_FILE_LIMIT = 10 * 1024 * 1024  # bytes; Discord's base upload limit, outside a guild


@dataclass(frozen=True, slots=True)
class Target:
    """Where a result's messages go: the first (embed, files, buttons), then any more files,
    each file under `file_limit` bytes."""

    first: First
    more: More
    file_limit: int


def original_response(reply: Reply, *, private: bool = False) -> Target:
    """The reply's original response, edited; more files as followups (`private`: ephemeral
    ones)."""

    async def first(
        embed: discord.Embed, files: list[discord.File], view: discord.ui.View
    ) -> discord.Message:
        return await reply.edit(content=None, embed=embed, attachments=files, view=view)

    async def more(files: list[discord.File]) -> None:
        await reply.followup.send(files=files, ephemeral=private)

    return Target(first, more, reply.filesize_limit)


def public_followup(reply: Reply, user_id: int) -> Target:
    """A new public followup that mentions the member (the original response is private)."""

    async def first(
        embed: discord.Embed, files: list[discord.File], view: discord.ui.View
    ) -> discord.Message:
        return await reply.followup.send(
            content=f"<@{user_id}>",
            embed=embed,
            files=files,
            view=view,
            wait=True,
            allowed_mentions=discord.AllowedMentions(users=[discord.Object(user_id)]),
        )

    async def more(files: list[discord.File]) -> None:
        await reply.followup.send(files=files)

    return Target(first, more, reply.filesize_limit)


def channel_message(channel: discord.abc.Messageable, job: JobRecord) -> Target:
    """A message in the channel that mentions the member (no interaction token to use)."""

    async def first(
        embed: discord.Embed, files: list[discord.File], view: discord.ui.View
    ) -> discord.Message:
        return await channel.send(
            content=f"<@{job.user_id}> your image is ready (job #{job.id}).",
            embed=embed,
            files=files,
            view=view,
            allowed_mentions=discord.AllowedMentions(users=[discord.Object(job.user_id)]),
        )

    async def more(files: list[discord.File]) -> None:
        await channel.send(files=files)

    return Target(first, more, file_limit(channel))


def direct_message(channel: discord.DMChannel, job: JobRecord) -> Target:
    """A direct message to the member: the result without buttons (they act in a server)."""

    async def first(
        embed: discord.Embed, files: list[discord.File], view: discord.ui.View
    ) -> discord.Message:
        server = f"job #{job.id}; in the server, `/job {job.id}` shows it again"
        return await channel.send(
            content=f"Your image is ready ({server}).", embed=embed, files=files
        )

    async def more(files: list[discord.File]) -> None:
        await channel.send(files=files)

    return Target(first, more, DM_FILE_LIMIT)


async def post_result(
    target: Target, job: JobRecord, results: Sequence[StoredFile], *, spoiler: bool = False
) -> discord.Message:
    """Post the results to `target`, each file with alt text from the prompt (and as a spoiler
    when asked); returns the first message (the one /job and the buttons point to). Raises
    discord.HTTPException when the first message fails."""
    chunks = await encoded(results, target.file_limit)
    embed = _render.result_embed(job, size=_render.made_size(results), made=len(results))
    look = _render.FileLook(_render.alt_text(job), spoiler=spoiler)
    first = await target.first(embed, _render.to_files(chunks[0], look), result_view(job.id))
    await _send_rest(target.more, chunks[1:], job.id, look)
    return first


async def encoded(results: Sequence[StoredFile], limit: int) -> list[list[EncodedFile]]:
    """The results fitted under `limit` bytes each, in messages of at most ten files."""
    files = await asyncio.to_thread(outbox.encode_results, [f.data for f in results], limit)
    return split_into_messages(files)


async def _send_rest(
    more: More, chunks: list[list[EncodedFile]], job_id: int, look: _render.FileLook
) -> None:
    """The messages after the first (more than ten images): one failing does not undo the first,
    which is what `/job` and the buttons point to."""
    for chunk in chunks:
        try:
            await more(_render.to_files(chunk, look))
        except discord.HTTPException as exc:
            log.warning("could not post the rest of job %s: %s", job_id, exc)
            return


def file_limit(channel: discord.abc.Messageable) -> int:
    """The per-file upload limit of a bot message in this channel (its guild's boost tier)."""
    guild = getattr(channel, "guild", None)
    return guild.filesize_limit if guild is not None else DM_FILE_LIMIT
