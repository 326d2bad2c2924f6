"""The guild's log channel: one line per generation or refusal, never a ping."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)


def readable_by_everyone(channel: object) -> bool:
    """Whether @everyone may view the channel (its overwrites included)."""
    if not isinstance(channel, discord.abc.GuildChannel):
        return False
    return channel.permissions_for(channel.guild.default_role).view_channel


async def write_log(
    bot: ImageBot, guild_id: int, line: str, *, public_line: str | None = None
) -> None:
    """Post `line` in the guild's log channel, if it has one the bot can write to;
    `public_line` instead when everyone can read that channel (a refusal without its prompt:
    the member was told privately)."""
    settings = await bot.services.guilds.get(guild_id)
    channel_id = settings.config.log_channel_id
    if channel_id is None:
        return
    channel = bot.get_channel(channel_id)
    if channel is None:
        try:
            channel = await bot.fetch_channel(channel_id)
        except discord.HTTPException:
            return
    if not isinstance(channel, discord.abc.Messageable):
        return
    if public_line is not None and readable_by_everyone(channel):
        line = public_line
    try:
        await channel.send(line, allowed_mentions=discord.AllowedMentions.none())
    except discord.HTTPException as exc:
        log.info("could not write to log channel %s: %s", channel_id, exc)
