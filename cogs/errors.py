"""The one error handler: project errors become short ephemeral replies, bugs get a reference."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands

from bot.errors import UpstreamError, UserFacingError
from cogs._messages import user_message

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)

UNKNOWN_INTERACTION = 10062  # Discord's JSON error code for an expired or unknown interaction


async def report_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Tell the member what went wrong, privately; log what they should not see."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, discord.NotFound) and error.code == UNKNOWN_INTERACTION:
        # Answered too late (past Discord's 3 s, e.g. under overload): any reply would meet the
        # same 404, and a traceback per interaction would only deepen the overload.
        log.warning("%s expired before it was answered: %s", _what(interaction), error.text)
        return
    text = user_message(error)
    if text is None:
        reference = secrets.token_hex(3)
        log.error(
            "unexpected error (ref %s) in %s: guild=%s channel=%s user=%s",
            reference,
            _what(interaction),
            interaction.guild_id,
            interaction.channel_id,
            interaction.user.id,
            exc_info=error,
        )
        text = f"Something went wrong on my side (reference `{reference}`). Please try again."
    elif isinstance(error, UpstreamError):
        log.warning("upstream error in %s: %r", _what(interaction), error)
    elif isinstance(error, UserFacingError):
        log.debug("refused %s: %s", _what(interaction), error)
    await send_private(interaction, text)


async def send_private(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral reply, whether or not the interaction was already acknowledged."""
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True)
        elif _deferred_privately(interaction):
            await interaction.edit_original_response(content=text)
        else:
            await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell user %s: %s", interaction.user.id, text)


def _deferred_privately(interaction: discord.Interaction) -> bool:
    """A "thinking…" placeholder is waiting to become the reply.

    This bot only ever defers with a message privately (see cogs/_flow.py), so the placeholder
    is ephemeral and editing it keeps the reply private.
    """
    return interaction.response.type is discord.InteractionResponseType.deferred_channel_message


def _what(interaction: discord.Interaction) -> str:
    command = interaction.command
    if command is not None:
        return f"/{command.qualified_name}"
    data = cast("dict[str, Any]", interaction.data or {})
    return str(data.get("custom_id") or "interaction")


async def setup(bot: ImageBot) -> None:
    """Install the handler on the command tree."""

    @bot.tree.error
    async def on_app_command_error(
        interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await report_error(interaction, error)
