"""Rendering of status lines, result embeds and log lines from core records (no I/O)."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import discord

from bot.catalog.pricing import CostEstimate
from bot.errors import BlockedPhraseError, SafetyRefusalError, ScreeningFlaggedError
from bot.guild_settings import SettingsChange
from bot.imaging.uploads import EncodedFile
from bot.jobs.events import Pacing
from bot.money import format_usd
from bot.records import JobRecord, StoredFile

PROMPT_IN_EMBED = 300  # characters; the whole prompt can be 4000, an embed reads better short
PROMPT_IN_LOG = 120
ALT_TEXT_CHARS = 1024  # Discord's limit for an attachment's description (its alt text)
EMBED_COLOUR = discord.Colour.blurple()


_INNER_UNDERSCORE = re.compile(r"(?<=[^\W_])\\_(?=[^\W_])")
_LINK_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*):(?=//)")


def plain(text: str) -> str:
    """Text a member or moderator wrote (prompts, style names, file names), shown as plain
    text: markdown escaped, masked and bare links dead, mentions inert.

    Discord's markdown (https://support.discord.com/hc/en-us/articles/210298617) reads `\\` as
    an escape; `<@id>`, `<#id>` and `<@&id>` become mentions only when `<` starts them; a URL is
    a link only when `://` follows its scheme (a word joiner between them breaks it). An
    underscore inside a word (`scan_0042.png`) starts no emphasis, so it is left as it is.
    """
    text = discord.utils.escape_markdown(text, ignore_links=False)
    text = _INNER_UNDERSCORE.sub("_", text)
    text = discord.utils.escape_mentions(text).replace("<", "\\<")
    return _LINK_SCHEME.sub("\\1:\u2060", text)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """ "1 image", "2 images": a number with its noun, singular or plural."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def quoted(text: str, limit: int) -> str:
    """Member text cut to `limit` characters, then made plain (escapes never cut in half)."""
    return plain(shorten(text, limit))


def shorten(text: str, limit: int) -> str:
    """Cut text to `limit` characters at a word boundary, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]
    return cut + "…"


def status_text(
    job: JobRecord,
    *,
    position: int | None,
    estimate: CostEstimate | None,
    working_minutes: int | None = None,
    pacing: Pacing | None = None,
) -> str:
    """The live status line shown while a job waits or renders (`working_minutes`: how long
    its call has been running, shown once it is a minute or more; `pacing`: which of the
    account's limits holds the job next in line back)."""
    tail = f" · up to {format_usd(job.estimated_micro_usd)}"
    if job.style:
        tail = f" · style {plain(job.style)}{tail}"
    if job.speed == "relaxed":
        return _relaxed_status(job, tail)
    if job.state == "running":
        working = f" still working, {working_minutes} min" if working_minutes else ""
        return f"🎨 Rendering job #{job.id}…{working}{tail}"
    if position is None:
        return f"⏳ Job #{job.id} is queued{tail}"
    ahead = "next in line" if position <= 1 else f"position {position} in the queue"
    if pacing is not None and position <= 1:
        ahead += f" · {_PACED[pacing.reason]} (about {max(1, round(pacing.seconds))} s)"
    return f"⏳ Job #{job.id} is {ahead}{tail}"


_PACED = {
    "images": "waiting for the bot's images-per-minute limit",
    "tokens": "waiting for the bot's tokens-per-minute limit",
}


def _relaxed_status(job: JobRecord, cost: str) -> str:
    when = "usually minutes, at most 24 h; it appears here, or with a mention if it takes longer"
    if job.state == "running":
        return f"🐢 Job #{job.id} is in a relaxed batch (half price){cost} · {when}"
    return f"🐢 Job #{job.id} is waiting to join a relaxed batch (half price){cost} · {when}"


def result_embed(
    job: JobRecord,
    *,
    size: str | None = None,
    made: int | None = None,
    requester: str | None = None,
) -> discord.Embed:
    """The final message's embed: prompt, model, size, quality, real cost, time taken.

    `size` is the size actually made (it differs from the request when that was "auto").
    """
    options = job.options
    embed = discord.Embed(description=quoted(job.prompt, PROMPT_IN_EMBED), colour=EMBED_COLOUR)
    embed.add_field(name="Model", value=options.model)
    embed.add_field(name="Size", value=size or options.size)
    embed.add_field(name="Quality", value=options.quality)
    if job.style:
        embed.add_field(name="Style", value=plain(job.style))
    embed.add_field(name="Cost", value=format_usd(job.charged_micro_usd) + _how_known(job))
    embed.add_field(name="Time", value=_duration(job.created_at, job.finished_at))
    if job.speed == "relaxed":
        embed.add_field(name="Speed", value="relaxed (half price)")
    if made is not None and made < options.n:
        note = f"Only {made} of {options.n} images could be made; you pay only for those."
        if job.charged_images > made:  # some answers were lost after their requests went out
            note = (
                f"Only {made} of {options.n} images arrived. The answer for the rest was lost "
                "after the request was sent, so they may have been charged: their estimated "
                "cost is counted. They were not sent again."
            )
        embed.add_field(name="Note", value=note, inline=False)
    footer = f"Job #{job.id}"
    embed.set_footer(text=f"{footer} · for {requester}" if requester else footer)
    return embed


def _how_known(job: JobRecord) -> str:
    """How the cost shown is known, from the job's ledger rows (its `billing`), whichever path
    ended it: nothing to add when it was measured."""
    if job.billing == "estimated":
        return (
            " (estimate: the image service did not report its usage, so this is the most it"
            " can have cost)"
        )
    if job.billing == "in_doubt":
        return " (in doubt: includes the estimate of requests whose answer was lost)"
    return ""


_SHORT_HOW_KNOWN: dict[str | None, str] = {"estimated": " (estimated)", "in_doubt": " (in doubt)"}


def _duration(start: datetime, end: datetime | None) -> str:
    if end is None:
        return "—"
    seconds = max(0, round((end - start).total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def in_doubt_text(job: JobRecord, why: str) -> str:
    """What the member of an in-doubt job reads: may have been charged, why, not sent again."""
    return (
        f"⚠️ I lost track of job #{job.id}: {why}, so I can't tell whether it was made. It may "
        f"have been charged, so its estimated cost ({format_usd(job.charged_micro_usd)}) stays "
        "counted. I won't send it again by myself, so you won't pay twice; if you still want "
        "it, press Re-roll (a new job, charged on its own)."
    )


@dataclass(frozen=True, slots=True)
class FileLook:
    """How result files are posted: their alt text, and whether they are spoilers."""

    alt: str | None = None
    spoiler: bool = False


def alt_text(job: JobRecord) -> str:
    """A result's alt text (the attachment's description): what was asked for, within
    Discord's limit for a description."""
    made = "Edited image" if job.operation == "edit" else "Generated image"
    style = f" (style: {job.style})" if job.style else ""
    room = ALT_TEXT_CHARS - len(made) - len(style) - 2
    return f"{made}: {shorten(job.prompt, room)}{style}"


def to_files(files: Sequence[EncodedFile], look: FileLook | None = None) -> list[discord.File]:
    """Discord files; with a look, each gets its alt text and, when asked, the spoiler mark
    (discord.py marks spoilers by the SPOILER_ filename prefix)."""
    look = look or FileLook()
    # Unset (MISSING) unless asked: then a file already named SPOILER_ stays a spoiler.
    spoiler = True if look.spoiler else discord.utils.MISSING
    return [
        discord.File(io.BytesIO(f.data), filename=f.filename, description=look.alt, spoiler=spoiler)
        for f in files
    ]


def made_size(files: Sequence[StoredFile]) -> str | None:
    """The size of the first kept result, as WxH."""
    return f"{files[0].width}x{files[0].height}" if files else None


def log_line(job: JobRecord, *, size: str | None, link: str | None) -> str:
    """One compact line for the guild's log channel."""
    o = job.options
    where = f" · {link}" if link else ""
    return (
        f"🖼️ <@{job.user_id}> · “{quoted(job.prompt, PROMPT_IN_LOG)}” · {o.model} "
        f"{size or o.size} {o.quality}{' relaxed' if job.speed == 'relaxed' else ''} · "
        f"{format_usd(job.charged_micro_usd)}{where}"
    )


def refusal_log_line(job: JobRecord, *, prompt: bool = True) -> str:
    """A provider's refusal for the guild's log channel; without the prompt for a channel
    everyone can read (the member was told privately)."""
    said = f": “{quoted(job.prompt, PROMPT_IN_LOG)}”" if prompt else ""
    return f"🚫 <@{job.user_id}>'s request was refused by the safety system{said} (job #{job.id})"


def safety_log_line(user_id: int, refusal: SafetyRefusalError, *, prompt: bool = True) -> str:
    """A refusal at admission (blocklist or screening) for the guild's log channel; without
    `prompt` for a channel everyone reads (the member was refused privately)."""
    if isinstance(refusal, BlockedPhraseError):
        why = f"by the blocklist (“{plain(refusal.phrase)}”)"
    elif isinstance(refusal, ScreeningFlaggedError):
        why = f"by screening ({refusal.source}: {', '.join(refusal.categories)})"
    else:
        why = "by a safety check"
    line = f"🚫 <@{user_id}>'s request was refused {why}"
    if refusal.prompt and prompt:
        line += f": “{quoted(refusal.prompt, PROMPT_IN_LOG)}”"
    if refusal.cooldown_until is not None:
        line += f" · cooled down until {discord.utils.format_dt(refusal.cooldown_until, 't')}"
    return line


# Stored setting names as the options moderators type in /quota set and /config set.
_OPTION_NAMES = {
    "daily_micro_usd": "guild_daily_usd", "monthly_micro_usd": "guild_monthly_usd",
    "daily_images": "guild_daily_images", "user_daily_micro_usd": "user_daily_usd",
    "default_model": "model", "default_quality": "quality", "default_size": "size",
    "log_channel_id": "log_channel", "cooldown_window_minutes": "cooldown_window",
}  # fmt: skip
_UNLIMITED_WHEN_ZERO = ("_micro_usd", "_images", "max_count")


def change_line(change: SettingsChange) -> str:
    """One audited settings change as a moderator reads it: option names, dollars, channels."""
    name, role = change.field, ""
    if name.startswith("role:"):
        _, role_id, name = name.split(":", 2)
        role = f" for <@&{role_id}>"
    when = discord.utils.format_dt(change.changed_at, "R")
    old, new = (_setting_value(name, v) for v in (change.old_value, change.new_value))
    return f"{when} <@{change.user_id}> {_OPTION_NAMES.get(name, name)}{role}: {old} → {new}"


def _setting_value(name: str, value: str | None) -> str:
    if value is None:
        return "default"
    if name.endswith(_UNLIMITED_WHEN_ZERO) and value == "0":
        return "no limit"
    if name.endswith("_micro_usd") and value.isdigit():
        return format_usd(int(value))
    if name == "log_channel_id" and value.isdigit():
        return f"<#{value}>"
    return plain(value.replace(",", ", "))


def job_summary(job: JobRecord, position: int | None, relaxed_state: str | None = None) -> str:
    """One line about a job for /job and /queue."""
    when = discord.utils.format_dt(job.created_at, "R")
    head = f"**#{job.id}** {job.state}"
    if job.speed == "relaxed" and not job.is_final:
        head = f"**#{job.id}** relaxed, {relaxed_state}" if relaxed_state else head + " (relaxed)"
    elif job.state == "queued" and position is not None:
        head += f" (position {position})"
    if job.is_final:  # what it counts against the budgets: nothing when it failed or was cancelled
        money = f"cost {format_usd(job.charged_micro_usd)}{_SHORT_HOW_KNOWN.get(job.billing, '')}"
    else:
        money = f"up to {format_usd(job.estimated_micro_usd)}"
    return f"{head} · {when} · {money} · “{quoted(job.prompt, 80)}”"
