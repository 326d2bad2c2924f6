"""/quota (limits and what is left) and /config (defaults and switches) for a guild."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.catalog.usable import check_usable
from bot.choices import Quality
from bot.errors import PermissionDeniedError
from bot.guild_settings import DEFAULT_SIZE
from bot.jobs.admit.provider_lacks import check_config
from bot.money import format_usd, to_micro_usd
from bot.reports.usage import Budget, BudgetLimits, BudgetLine, format_images
from cogs import _choices
from cogs._fit import FIELD_VALUE, fit_lines
from cogs._flow import is_moderator, member_role_ids
from cogs._log import readable_by_everyone
from cogs._render import change_line, count

if TYPE_CHECKING:
    from bot.app import ImageBot
    from bot.guild_settings import GuildLimits, GuildSettings

UsdOption = app_commands.Range[float, 0, 1_000_000]
CountOption = app_commands.Range[int, 0, 1_000_000]


def _require_moderator(interaction: discord.Interaction, action: str) -> None:
    # default_permissions is only a default that server admins can change: check here too.
    if not is_moderator(interaction):
        raise PermissionDeniedError(f"{action} (it needs Manage Server)")


class Admin(commands.Cog):
    """Quotas and configuration."""

    quota = app_commands.Group(name="quota", description="Image limits", guild_only=True)
    config = app_commands.Group(
        name="config",
        description="Image bot settings",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: ImageBot) -> None:
        self.services = bot.services

    @quota.command(name="show")
    async def quota_show(self, interaction: discord.Interaction) -> None:
        """This server's limits and what you have left today."""
        guild_id = interaction.guild_id or 0
        settings = await self.services.guilds.get(guild_id)
        images, micro_usd = await self.services.guilds.user_limits(
            guild_id, member_role_ids(interaction)
        )
        guild_budget = await self.services.usage.budget(guild_id, limits=_budget_limits(settings))
        mine = await self.services.usage.budget(
            guild_id,
            limits=BudgetLimits(daily_micro_usd=micro_usd, daily_images=images),
            user_id=interaction.user.id,
        )
        embed = quota_embed(settings.limits, guild_budget, mine)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @quota.command(name="set")
    async def quota_set(
        self,
        interaction: discord.Interaction,
        guild_daily_usd: UsdOption | None = None,
        guild_monthly_usd: UsdOption | None = None,
        guild_daily_images: CountOption | None = None,
        user_daily_images: CountOption | None = None,
        user_daily_usd: UsdOption | None = None,
        max_count: app_commands.Range[int, 0, 10] | None = None,
    ) -> None:
        """Set this server's limits (USD as decimals; 0 = no limit).

        Args:
            guild_daily_usd: Most the server may spend per UTC day.
            guild_monthly_usd: Most the server may spend per UTC month.
            guild_daily_images: Most images the server may make per UTC day.
            user_daily_images: Most images one member may make per day.
            user_daily_usd: Most one member may spend per day.
            max_count: Most images in one request (0 = the API's 10).
        """
        _require_moderator(interaction, "change the limits")
        changes = {
            "daily_micro_usd": _micro(guild_daily_usd),
            "monthly_micro_usd": _micro(guild_monthly_usd),
            "daily_images": guild_daily_images,
            "user_daily_images": user_daily_images,
            "user_daily_micro_usd": _micro(user_daily_usd),
            "max_count": max_count,
        }
        changes = {name: value for name, value in changes.items() if value is not None}
        settings = await self.services.guilds.update_limits(
            interaction.guild_id or 0, changed_by=interaction.user.id, **changes
        )
        text = "Limits updated." if changes else "Nothing to change; the limits are:"
        await interaction.response.send_message(
            text, embed=limits_embed(settings.limits), ephemeral=True
        )

    @quota.command(name="role")
    async def quota_role(
        self,
        interaction: discord.Interaction,
        role: discord.Role,
        user_daily_images: CountOption | None = None,
        user_daily_usd: UsdOption | None = None,
    ) -> None:
        """Give a role its own per-member limits (leave both empty to remove them).

        Args:
            role: The role.
            user_daily_images: Most images a member with this role may make per day (0 = no limit).
            user_daily_usd: Most a member with this role may spend per day (0 = no limit).
        """
        _require_moderator(interaction, "change role limits")
        quota = await self.services.guilds.set_role_quota(
            interaction.guild_id or 0,
            role.id,
            changed_by=interaction.user.id,
            user_daily_images=user_daily_images,
            user_daily_micro_usd=_micro(user_daily_usd),
        )
        if quota is None:
            text = f"{role.mention} now follows the server's per-member limits."
        else:
            text = (
                f"Members with {role.mention} get "
                f"{_count(quota.user_daily_images, 'images')} and "
                f"{_money(quota.user_daily_micro_usd)} per day "
                "(the most generous of a member's roles applies)."
            )
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @config.command(name="show")
    async def config_show(self, interaction: discord.Interaction) -> None:
        """This server's image settings and their recent changes."""
        _require_moderator(interaction, "see the settings")
        guild_id = interaction.guild_id or 0
        settings = await self.services.guilds.get(guild_id)
        changes = await self.services.guilds.changes(guild_id)
        embed = config_embed(settings, self.services.settings.image_model)
        history = fit_lines([change_line(c) for c in changes], FIELD_VALUE)
        embed.add_field(name="Recent changes", value=history or "—", inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @config.command(name="set")
    @app_commands.autocomplete(model=_choices.model_autocomplete)
    async def config_set(
        self,
        interaction: discord.Interaction,
        model: str | None = None,
        quality: Quality | None = None,
        size: str | None = None,
        allowed_models: str | None = None,
        moderation: Literal["auto", "low"] | None = None,
        previews: bool | None = None,
        log_channel: discord.TextChannel | None = None,
        relaxed: Literal["off", "allowed", "default", "only"] | None = None,
        screening: Literal["off", "prompts", "prompts_and_images"] | None = None,
        spoilers: bool | None = None,
        cooldown_refusals: app_commands.Range[int, 0, 100] | None = None,
        cooldown_window: app_commands.Range[int, 1, 10080] | None = None,
        cooldown_minutes: app_commands.Range[int, 1, 10080] | None = None,
        paused: bool | None = None,
    ) -> None:
        """Change this server's defaults, models, moderation, safety, log and relaxed speed.

        Args:
            model: Default model.
            quality: Default quality.
            size: Default size.
            allowed_models: Comma-separated models members may choose ("all" for every model).
            moderation: OpenAI's moderation strictness for generations.
            previews: Show partial images while an image renders (costs a little more).
            log_channel: Where to log one line per generation.
            relaxed: Half-price batch speed: off, allowed, the default, or the only speed.
            screening: Check prompts (and edit images) with OpenAI's free moderation first.
            spoilers: Post results as spoilers.
            cooldown_refusals: Refusals within the window that pause a member (0 = never).
            cooldown_window: The window for counting refusals, in minutes.
            cooldown_minutes: How long a paused member waits, in minutes.
            paused: Refuse new images for now (queued jobs still run).
        """
        _require_moderator(interaction, "change the settings")
        changes: dict[str, object] = {
            "default_model": model,
            "default_quality": quality,
            "default_size": size,
            "allowed_models": _allowed(allowed_models),
            "moderation": moderation,
            "previews": previews,
            "log_channel_id": log_channel.id if log_channel else None,
            "relaxed": relaxed,
            "screening": screening,
            "spoilers": spoilers,
            "paused": paused,
            "cooldown_refusals": cooldown_refusals,
            "cooldown_window_minutes": cooldown_window,
            "cooldown_minutes": cooldown_minutes,
        }
        changes = {name: value for name, value in changes.items() if value is not None}
        if allowed_models is not None and allowed_models.strip().lower() == "all":
            changes["allowed_models"] = None
        await self._check_usable(interaction.guild_id or 0, changes)
        settings = await self.services.guilds.update_config(
            interaction.guild_id or 0, changed_by=interaction.user.id, **changes
        )
        embed = config_embed(settings, self.services.settings.image_model)
        text = "Settings updated." if changes else "Nothing to change; the settings are:"
        if log_channel is not None and readable_by_everyone(log_channel):
            text += (
                f"\n⚠️ Everyone can read {log_channel.mention}: it will show every member's "
                "prompts. Refusals are logged there without their prompt; pick a channel only "
                "moderators can read to see them."
            )
        await interaction.response.send_message(text, embed=embed, ephemeral=True)

    async def _check_usable(self, guild_id: int, changes: dict[str, object]) -> None:
        """InvalidOptionError, before anything is stored, for a default the guild cannot use."""
        services = self.services
        check_config(services.openai.profile, changes)
        current = (await services.guilds.get(guild_id)).config
        allowed = changes.get("allowed_models", current.allowed_models)
        check_usable(
            changes,
            current_model=current.default_model or services.settings.image_model,
            # a size the moderators chose (the shipped default gives way to any model's own)
            current_size=None if current.default_size == DEFAULT_SIZE else current.default_size,
            catalog=services.catalog,
            today=services.clock.now().date(),
            offers=services.models.offers,
            allowed=allowed if isinstance(allowed, tuple) else None,
        )


def _micro(usd: float | None) -> int | None:
    return None if usd is None else to_micro_usd(usd)


def _allowed(text: str | None) -> tuple[str, ...] | None:
    if text is None or text.strip().lower() == "all":
        return None
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _budget_limits(settings: GuildSettings) -> BudgetLimits:
    limits = settings.limits
    return BudgetLimits(limits.daily_micro_usd, limits.monthly_micro_usd, limits.daily_images)


def _money(micro_usd: int | None) -> str:
    return "no limit" if not micro_usd else format_usd(micro_usd)


def _count(value: int | None, unit: str) -> str:
    """ "no limit", "1 image", "20 images" (`unit` is the plural)."""
    return "no limit" if not value else count(value, unit.removesuffix("s"))


def limits_embed(limits: GuildLimits) -> discord.Embed:
    embed = discord.Embed(title="Limits", colour=discord.Colour.blurple())
    embed.add_field(name="Server per day", value=_money(limits.daily_micro_usd))
    embed.add_field(name="Server per month", value=_money(limits.monthly_micro_usd))
    embed.add_field(name="Server images per day", value=_count(limits.daily_images, "images"))
    embed.add_field(name="Member images per day", value=_count(limits.user_daily_images, "images"))
    embed.add_field(name="Member per day", value=_money(limits.user_daily_micro_usd))
    embed.add_field(name="Images per request", value=str(limits.count_cap))
    return embed


def quota_embed(limits: GuildLimits, guild: Budget, mine: Budget) -> discord.Embed:
    embed = limits_embed(limits)
    embed.title = "Limits and what is left"
    embed.add_field(
        name="You, today",
        value=f"{_left(mine.daily_images)}\n{_left(mine.daily_usd)}",
        inline=False,
    )
    embed.add_field(
        name="The server",
        value=f"{_left(guild.daily_images)}\n{_left(guild.daily_usd)}\n{_left(guild.monthly_usd)}",
        inline=False,
    )
    return embed


def _left(line: BudgetLine) -> str:
    show = format_usd if line.unit == "usd" else format_images
    resets = discord.utils.format_dt(line.resets_at, "R")
    if line.left is None:
        return f"{show(line.used)} used, no limit"
    return f"{show(line.left)} left of {show(line.limit)} (resets {resets})"


def config_embed(settings: GuildSettings, bot_default_model: str) -> discord.Embed:
    config = settings.config
    embed = discord.Embed(title="Image settings", colour=discord.Colour.blurple())
    model = config.default_model or f"{bot_default_model} (bot default)"
    embed.add_field(name="Model", value=model)
    embed.add_field(name="Quality", value=config.default_quality)
    embed.add_field(name="Size", value=config.default_size)
    allowed = ", ".join(config.allowed_models) if config.allowed_models else "all"
    embed.add_field(name="Allowed models", value=allowed)
    embed.add_field(name="Moderation", value=config.moderation)
    embed.add_field(name="Previews", value="on" if config.previews else "off")
    log = f"<#{config.log_channel_id}>" if config.log_channel_id else "none"
    embed.add_field(name="Log channel", value=log)
    embed.add_field(name="Relaxed speed", value=config.relaxed)
    embed.add_field(name="Screening", value=config.screening)
    embed.add_field(name="Spoilers", value="on" if config.spoilers else "off")
    embed.add_field(name="Paused", value="yes: new jobs are refused" if config.paused else "no")
    cooldown = (
        f"{config.cooldown_refusals} refusals in {config.cooldown_window_minutes} min → "
        f"{config.cooldown_minutes} min pause"
        if config.cooldown_refusals
        else "off"
    )
    embed.add_field(name="Cool-down", value=cooldown)
    return embed


async def setup(bot: ImageBot) -> None:
    """Load the Admin cog."""
    await bot.add_cog(Admin(bot))
