"""/usage: spend and usage for moderators, as numbers, a chart and a CSV."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import PermissionDeniedError
from bot.money import format_usd
from bot.reports.usage import (
    BudgetLimits,
    BudgetLine,
    UsageOverview,
    format_images,
    speeds_text,
)
from cogs._flow import is_moderator

if TYPE_CHECKING:
    from bot.app import ImageBot
    from bot.jobs.safety.community import SafetyReport

PeriodChoice = Literal["today", "7d", "30d", "month", "all"]
TOP_USERS_SHOWN = 5


class Usage(commands.Cog):
    """Usage and spend for moderators."""

    def __init__(self, bot: ImageBot) -> None:
        self.services = bot.services

    @app_commands.command(name="usage")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def usage(
        self,
        interaction: discord.Interaction,
        period: PeriodChoice = "30d",
        user: discord.Member | None = None,
        export: bool = False,
    ) -> None:
        """Usage and spend: totals, by model, top members, budget left, a chart and a CSV.

        Args:
            period: Which days to count (UTC).
            user: Only this member.
            export: Attach the ledger rows as a CSV.
        """
        # Server admins can change who sees this command, so check on our side too.
        if not is_moderator(interaction):
            raise PermissionDeniedError("see usage (it needs Manage Server)")
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id = interaction.guild_id or 0
        overview = await self.services.usage.overview(
            guild_id,
            period,
            limits=await self._limits(guild_id, user),
            user_id=user.id if user else None,
        )
        files = [discord.File(io.BytesIO(await self.services.usage.chart(overview)), "usage.png")]
        if export:
            names = await _member_names(
                interaction.guild, await self.services.usage.export_members(overview)
            )
            csv = await self.services.usage.export(
                overview, limit_bytes=interaction.filesize_limit, names=names
            )
            files.append(discord.File(io.BytesIO(csv.data), filename=csv.filename))
        config = (await self.services.guilds.get(guild_id)).config
        report = overview.report
        safety = await self.services.safety.report(
            guild_id, config, report.start, report.end, user.id if user else None
        )
        embed = usage_embed(overview, who=user.display_name if user else None, safety=safety)
        embed.set_image(url="attachment://usage.png")
        await interaction.edit_original_response(embed=embed, attachments=files)

    async def _limits(self, guild_id: int, user: discord.Member | None) -> BudgetLimits:
        settings = await self.services.guilds.get(guild_id)
        limits = settings.limits
        if user is None:
            return BudgetLimits(
                limits.daily_micro_usd, limits.monthly_micro_usd, limits.daily_images
            )
        images, micro_usd = await self.services.guilds.user_limits(
            guild_id, tuple(role.id for role in user.roles)
        )
        return BudgetLimits(daily_micro_usd=micro_usd, daily_images=images)


def usage_embed(
    overview: UsageOverview, *, who: str | None, safety: SafetyReport | None = None
) -> discord.Embed:
    """The numbers of an overview as one embed."""
    report, totals = overview.report, overview.report.totals
    title = f"Usage — {overview.period}" + (f" — {who}" if who else "")
    embed = discord.Embed(title=title, colour=discord.Colour.blurple())
    embed.add_field(name="Requests", value=f"{totals.requests:,}")
    embed.add_field(name="Images", value=f"{totals.images:,}")
    embed.add_field(name="Spend", value=format_usd(totals.spend_micro_usd))
    embed.add_field(
        name="Tokens", value=f"{totals.input_tokens:,} in · {totals.output_tokens:,} out"
    )
    embed.add_field(name="Failures", value=f"{totals.failures:,}")
    embed.add_field(name="Refused (safety)", value=_refusals(totals.refusals, safety))
    for name, value in _apart(overview):
        embed.add_field(name=name, value=value, inline=False)
    speeds = speeds_text(report.relaxed, totals.images, totals.spend_micro_usd)
    if speeds is not None:
        embed.add_field(name="Fast and relaxed", value=speeds, inline=False)
    models = [
        f"`{m.model}` {m.requests:,} req · {m.images:,} img · {format_usd(m.spend_micro_usd)}"
        for m in report.by_model
    ]
    embed.add_field(name="By model", value="\n".join(models) or "—", inline=False)
    if who is None:
        top = [
            f"<@{u.user_id}> {format_usd(u.spend_micro_usd)} · {u.images:,} img"
            for u in report.top_users[:TOP_USERS_SHOWN]
        ]
        embed.add_field(name="Top members by spend", value="\n".join(top) or "—", inline=False)
    if safety is not None and safety.cooled_down:
        paused = [
            f"<@{user_id}> until {discord.utils.format_dt(until, 't')}"
            for user_id, until in safety.cooled_down
        ]
        embed.add_field(name="Cooling down", value="\n".join(paused[:10]), inline=False)
    budget = overview.budget
    embed.add_field(name="Today", value=_budget_text(budget.daily_usd, budget.daily_images))
    embed.add_field(name="This month", value=_budget_text(budget.monthly_usd, None))
    return embed


def _refusals(safety_system: int, safety: SafetyReport | None) -> str:
    """All refusals; split by check when the blocklist or screening refused any."""
    counts = safety.counts if safety is not None else None
    if counts is None or not (counts.blocklist or counts.screening):
        return f"{safety_system:,}"
    total = safety_system + counts.blocklist + counts.screening
    return (
        f"{total:,}\nsafety system {safety_system:,} · blocklist {counts.blocklist:,} · "
        f"screening {counts.screening:,}"
    )


def _apart(overview: UsageOverview) -> list[tuple[str, str]]:
    """The parts of spend that are estimates, each with why (shown only when there are any)."""
    t = overview.report.totals
    fields = []
    if t.in_doubt_requests:
        fields.append(
            (
                "In doubt (answer lost)",
                f"{t.in_doubt_requests:,} req · {format_usd(t.in_doubt_micro_usd)} estimated, "
                "counted in spend: the answer was lost after the request was sent, so it may "
                "have been billed",
            )
        )
    if t.estimated_requests:
        fields.append(
            (
                "Estimated (no usage)",
                f"{t.estimated_requests:,} req · {format_usd(t.estimated_micro_usd)} at the "
                "upper-bound estimate, counted in spend: the provider sent no token usage",
            )
        )
    listed = overview.report.list_priced
    if listed.requests:
        fields.append(
            (
                "At a published price (no cost reported)",
                f"{listed.requests:,} req · {format_usd(listed.micro_usd)} at the provider's "
                "list price, counted in spend: it reports no cost (input tokens counted at "
                "most, each request rounded up as its list says)",
            )
        )
    return fields


def _budget_text(usd: BudgetLine, images: BudgetLine | None) -> str:
    lines = [_line(usd)]
    if images is not None:
        lines.append(_line(images))
    lines.append(f"resets {discord.utils.format_dt(usd.resets_at, 'R')}")
    return "\n".join(lines)


def _line(line: BudgetLine) -> str:
    show = format_usd if line.unit == "usd" else format_images
    if line.left is None:
        return f"{show(line.used)} used (no limit)"
    return f"{show(line.used)} of {show(line.limit)} · {show(line.left)} left"


async def _member_names(guild: discord.Guild | None, user_ids: list[int]) -> dict[int, str]:
    """Display names of the members still in the guild (cached, else asked of Discord)."""
    names: dict[int, str] = {}
    if guild is None:
        return names
    for user_id in user_ids:
        member = guild.get_member(user_id)
        if member is None:
            try:
                member = await guild.fetch_member(user_id)
            except discord.HTTPException:
                continue  # left the guild, or Discord would not say: the id alone is kept
        names[user_id] = member.display_name
    return names


async def setup(bot: ImageBot) -> None:
    """Load the Usage cog."""
    await bot.add_cog(Usage(bot))
