"""Logging in and connecting to Discord, with its refusals at start-up as the setting to fix."""

from __future__ import annotations

import aiohttp
import discord
import yarl
from discord.ext import commands

from bot.errors import ConfigError, UnreachableError
from bot.ops.startup import reach_gateway, short_reason
from bot.settings import Settings

GATEWAY_AUTH_FAILED = 4004  # https://discord.com/developers/docs/topics/opcodes-and-status-codes
GUILD_CODES = (10004, 50001)  # Unknown Guild; Missing Access (the bot is not a member)


def point_discord_at(settings: Settings) -> None:
    """Honour DISCORD_API_BASE and DISCORD_GATEWAY_URL (discord.py's only knobs are these)."""
    discord.http.Route.BASE = settings.discord_api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


async def log_in_and_connect(bot: commands.AutoShardedBot, settings: Settings) -> None:
    """Log in, then stay connected until the bot closes. Raises the ConfigError naming the
    setting Discord refused, or UnreachableError when Discord cannot be reached."""
    try:
        await bot.login(settings.discord_token.get_secret_value())
        await reach_gateway(settings.discord_gateway_url)
        await bot.connect()
    except (discord.LoginFailure, discord.ConnectionClosed, discord.HTTPException) as exc:
        refusal = _discord_refusal(exc, settings)
        if refusal is None:
            raise
        raise refusal from None
    except discord.GatewayNotFound:
        reason = "GET /gateway/bot failed"
        raise UnreachableError("Discord", settings.discord_api_base, reason) from None
    except (aiohttp.ClientConnectionError, OSError) as exc:
        reason = short_reason(exc)
        raise UnreachableError("Discord", settings.discord_api_base, reason) from None


def _discord_refusal(exc: Exception, settings: Settings) -> ConfigError | None:
    """A refusal from Discord at start-up as the setting to fix; None for anything else."""
    if isinstance(exc, discord.LoginFailure) or getattr(exc, "code", None) == GATEWAY_AUTH_FAILED:
        fix = "reset it in the Developer Portal (Bot, Reset Token) and set the new one"
        return ConfigError("DISCORD_TOKEN", f"was refused by Discord: {fix}")
    guild = settings.dev_guild_id
    if guild is not None and isinstance(exc, discord.HTTPException) and exc.code in GUILD_CODES:
        fix = "invite the bot there (README, Inviting the bot) or unset DEV_GUILD_ID"
        return ConfigError("DEV_GUILD_ID", f"{guild}: the bot is not in this server: {fix}")
    return None
