"""What members read: the project's errors turned into short, plain sentences."""

from __future__ import annotations

import functools

import discord
from discord import app_commands

from bot import errors
from bot.money import format_usd
from cogs._render import plain

GENERIC_UPSTREAM = "The image service had a problem, so nothing was charged. Please try again."


@functools.singledispatch
def user_message(error: BaseException) -> str | None:
    """The reply for an error, or None when it is unexpected (a bug: log it, give a reference)."""
    return None


@user_message.register
def _(error: errors.QuotaExceededError) -> str:
    resets = discord.utils.format_dt(error.resets_at, "R")
    if error.unit == "usd":
        used, allowed = format_usd(error.used), format_usd(error.allowed)
        need = format_usd(error.requested)
        return (
            f"That would go over {error.limit}: {used} of {allowed} used and this request "
            f"may cost up to {need}. It resets {resets}."
        )
    return (
        f"That would go over {error.limit}: {error.used} of {error.allowed} images used, "
        f"and this request makes {error.requested}. It resets {resets}."
    )


@user_message.register
def _(error: errors.QueueFullError) -> str:
    if error.scope == "member":
        return (
            f"You already have {error.limit} jobs waiting. Wait for one to finish, "
            "or cancel one with `/queue`."
        )
    return f"This server's queue is full ({error.limit} jobs). Please try again in a few minutes."


@user_message.register
def _(error: errors.ModelRetiredError) -> str:
    if error.replacement:
        return f"{error.model} was retired on {error.shutdown}. Use `{error.replacement}` instead."
    return f"{error.model} was retired on {error.shutdown}."


@user_message.register
def _(error: errors.ModelNotOfferedError) -> str:
    choices = f" Choose one of: {', '.join(error.available)}." if error.available else ""
    return (
        f"`{error.model}` is in this bot's list, but the image service it uses does not offer "
        f"it to the bot's API key.{choices} Nothing was sent or charged."
    )


@user_message.register
def _(error: errors.ModelNotAllowedError) -> str:
    return f"`{error.model}` is not available here. Choose one of: {', '.join(error.allowed)}."


@user_message.register
def _(error: errors.InvalidOptionError) -> str:
    return f"**{error.option}**: {error.reason}"


@user_message.register
def _(error: errors.InvalidImageError) -> str:
    return f"I can't use **{plain(error.filename)}**: {error.reason}. Nothing was charged."


@user_message.register
def _(error: errors.PromptRejectedError) -> str:
    if error.stage == "input":
        return "OpenAI's safety system refused your prompt or image; nothing was charged."
    if error.stage == "output":
        return "OpenAI's safety system refused the image it made; nothing was charged."
    return (
        "OpenAI's safety system refused this prompt or image, so nothing was charged. "
        "Try rephrasing it."
    )


# OpenAI's moderation categories in plain words (docs/sources.md#moderation-categories).
CATEGORY_WORDS = {
    "sexual": "sexual content",
    "sexual/minors": "sexual content involving minors",
    "harassment": "harassment",
    "harassment/threatening": "threats",
    "hate": "hate",
    "hate/threatening": "hateful threats",
    "illicit": "illegal activity",
    "illicit/violent": "violent illegal activity",
    "self-harm": "self-harm",
    "self-harm/intent": "intent to self-harm",
    "self-harm/instructions": "self-harm instructions",
    "violence": "violence",
    "violence/graphic": "graphic violence",
}


def plain_categories(categories: tuple[str, ...]) -> str:
    """ "violence and graphic violence" from OpenAI's category names."""
    words = [CATEGORY_WORDS.get(c, c.replace("/", " ").replace("-", " ")) for c in categories]
    words = list(dict.fromkeys(words)) or ["unsafe content"]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _cooldown_note(error: errors.SafetyRefusalError) -> str:
    if error.cooldown_until is None:
        return ""
    when = discord.utils.format_dt(error.cooldown_until, "R")
    return f" After repeated refusals you can make images again {when}."


@user_message.register
def _(error: errors.BlockedPhraseError) -> str:
    return (
        f"Your prompt contains “{plain(error.phrase)}”, which this server does not allow, so "
        f"nothing was made or charged.{_cooldown_note(error)}"
    )


@user_message.register
def _(error: errors.ScreeningFlaggedError) -> str:
    return (
        f"The safety check flagged your {error.source} for {plain_categories(error.categories)}, "
        f"so it was not sent and nothing was charged.{_cooldown_note(error)}"
    )


@user_message.register
def _(error: errors.ScreeningUnavailableError) -> str:
    return (
        "This server checks prompts before making images, and the check is not answering right "
        "now, so nothing was sent or charged. Please try again in a minute."
    )


@user_message.register
def _(error: errors.ScreeningUnsupportedError) -> str:
    return (
        f"This server checks prompts before making images, but {error.reason}, so nothing was "
        "sent or charged. A moderator can turn screening off with /config."
    )


@user_message.register
def _(error: errors.CooledDownError) -> str:
    when = discord.utils.format_dt(error.until, "R")
    return (
        f"After {error.refusals} refused requests in a short time you need to pause: you can "
        f"make images again {when}."
    )


@user_message.register
def _(error: errors.PermissionDeniedError) -> str:
    return f"You are not allowed to {error.action}."


@user_message.register
def _(error: errors.GuildPausedError) -> str:
    return "Making images is paused by the moderators for now; nothing was charged."


@user_message.register
def _(error: errors.GuildNotServedError) -> str:
    return "This bot is not enabled here. Its operator decides which servers it serves."


@user_message.register
def _(error: errors.JobNotFoundError) -> str:
    return f"I can't find job #{error.job_id} in this server."


@user_message.register
def _(error: errors.JobNotCancellableError) -> str:
    return f"Job #{error.job_id} is already {error.state}, so it can't be cancelled."


@user_message.register
def _(error: errors.BatchNotRunError) -> str:
    what = {"expired": "ran out of its 24 hours", "cancelled": "was cancelled"}
    return (
        f"The relaxed batch {what.get(error.status, 'failed')} before your image was made, "
        "so nothing was charged. Please try again."
    )


@user_message.register
def _(error: errors.RelaxedNotOfferedError) -> str:
    return (
        f"relaxed speed needs batches, which {error.provider} (the image service this bot now "
        "uses) does not offer, so it was not made and nothing was charged. Ask again at fast "
        "speed."
    )


@user_message.register
def _(error: errors.UpstreamError) -> str:
    return GENERIC_UPSTREAM


@user_message.register
def _(error: errors.InputRejectedError) -> str:
    which = f"image {error.index}"
    if error.filename:
        which = f"**{plain(error.filename)}** ({which})"
    why = (
        "it could not read the file or its colour mode"
        if error.code == "invalid_image_file"
        else "it does not accept it as an input"
    )
    return (
        f"The image service refused {which}: {why}. Nothing was charged. "
        "Saving it as a PNG or JPEG and sending that usually works."
    )


@user_message.register
def _(error: errors.AnswerLostError) -> str:
    # Never "nothing was charged": the provider may have made and billed it.
    return (
        f"I can't tell whether it was made: {error.reason}. It may have been charged, and it "
        "was not sent again."
    )


@user_message.register
def _(error: errors.ResultUnfetchedError) -> str:
    made = "the image was made but could not be fetched from the image service, so it was charged"
    if error.cost_micro_usd is None:
        return f"{made} (its estimate) and not sent again."
    return f"{made} ({format_usd(error.cost_micro_usd)}, {error.how}) and not sent again."


@user_message.register
def _(error: errors.AccountProblemError) -> str:
    # Which cause (and the provider's words) is the operator's business: their log says it.
    return (
        "The bot's account has a problem, so nothing was made and nothing was charged. "
        "The bot's operator has been told."
    )


@user_message.register
def _(error: errors.ModelUnavailableError) -> str:
    return f"The image service does not offer `{error.model}` any more. Please tell a moderator."


@user_message.register
def _(error: app_commands.MissingPermissions) -> str:
    return "You need the **Manage Server** permission for this."


@user_message.register
def _(error: app_commands.NoPrivateMessage) -> str:
    return "This command works in servers only."


@user_message.register
def _(error: app_commands.TransformerError) -> str:
    return f"I couldn't read the value `{error.value}`."
