"""Option choices and autocomplete drawn from the model catalog (validated again at admission)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, cast

import discord
from discord import app_commands

from bot.errors import ModelNotAllowedError

if TYPE_CHECKING:
    from bot.app import ImageBot

QualityChoice = Literal["auto", "low", "medium", "high"]
BackgroundChoice = Literal["auto", "transparent", "opaque"]
FormatChoice = Literal["png", "jpeg", "webp"]
FidelityChoice = Literal["low", "high"]
SpeedChoice = Literal["fast", "relaxed"]

MAX_CHOICES = 25  # Discord's limit per autocomplete response


def _bot(interaction: discord.Interaction) -> ImageBot:
    return cast("ImageBot", interaction.client)


async def model_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Catalog models that are not retired, allowed in this guild and offered by the provider."""
    services = _bot(interaction).services
    today = services.clock.now().date()
    allowed = None
    if interaction.guild_id is not None:
        allowed = (await services.guilds.get(interaction.guild_id)).config.allowed_models
    names = [
        name
        for name in services.catalog.names()
        if not services.catalog.get(name).is_retired(today)
        and (allowed is None or name in allowed)
        and services.models.offers(name)
        and current.lower() in name.lower()
    ]
    return [app_commands.Choice(name=n, value=n) for n in names[:MAX_CHOICES]]


async def size_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """The chosen (or default) model's listed sizes; free sizes can still be typed."""
    services = _bot(interaction).services
    model = getattr(interaction.namespace, "model", None) or services.settings.image_model
    try:
        sizes = services.catalog.get(model).sizes
    except ModelNotAllowedError:  # typed by hand: admission will say so
        sizes = ("auto", "1024x1024", "1536x1024", "1024x1536")
    matches = [s for s in sizes if current.lower() in s.lower()]
    return [app_commands.Choice(name=s, value=s) for s in matches[:MAX_CHOICES]]


async def style_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """The guild's styles whose name contains what was typed, with a glimpse of their text."""
    if interaction.guild_id is None:
        return []
    styles = await _bot(interaction).services.safety.styles(interaction.guild_id)
    typed = current.casefold().strip()
    found = [s for s in styles if typed in s.name.casefold()]
    return [
        app_commands.Choice(name=_label(s.name, s.prompt), value=s.name)
        for s in found[:MAX_CHOICES]
    ]


def _label(name: str, text: str) -> str:
    """ "name — its text…" within Discord's 100 characters for a choice's name."""
    label = f"{name} — {' '.join(text.split())}"
    return label if len(label) <= 100 else label[:99] + "…"
