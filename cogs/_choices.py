"""The member options of /imagine and /edit from bot/choices.py; autocomplete from the catalog."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands

from bot.choices import BY_FIELD, OptionSpec
from bot.errors import ModelNotAllowedError
from bot.provider.profile import ProviderProfile

if TYPE_CHECKING:
    from bot.app import ImageBot

MAX_CHOICES = 25  # Discord's limit per autocomplete response

Callback = Callable[..., Coroutine[Any, Any, None]]
Autocomplete = Callable[
    [discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]
]


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


# Free-text options that suggest values as the member types (each validated again at admission).
AUTOCOMPLETE: dict[str, Autocomplete] = {
    "size": size_autocomplete,
    "model": model_autocomplete,
    "style": style_autocomplete,
}


def menu(spec: OptionSpec) -> list[app_commands.Choice[str]]:
    """A fixed-value option's values as Discord choices, named as they are sent."""
    return [app_commands.Choice(name=value, value=value) for value in spec.values]


def member_options(specs: Sequence[OptionSpec]) -> Callable[[Callback], Callback]:
    """Give a command callback one optional parameter per option in `specs` (rows of
    bot/choices.py OPTIONS), named, described, typed and with its menu or autocomplete as the
    table says. The callback receives them as `**picked`, keyed by their Discord names.

    discord.py reads a callback's parameters with inspect.signature, which honours a function's
    `__signature__` (https://docs.python.org/3/library/inspect.html#inspect.signature); the
    options are added after the callback's own parameters, so its required ones stay first.
    """

    def decorate(func: Callback) -> Callback:
        signature = inspect.signature(func)
        own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        keyword = inspect.Parameter.KEYWORD_ONLY
        added = [
            inspect.Parameter(s.option, keyword, default=None, annotation=_annotation(s))
            for s in specs
        ]
        func.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
        app_commands.describe(**{s.option: s.description for s in specs})(func)
        app_commands.choices(**{s.option: menu(s) for s in specs if s.fixed})(func)
        suggested = {s.option: AUTOCOMPLETE[s.field] for s in specs if s.field in AUTOCOMPLETE}
        return app_commands.autocomplete(**suggested)(func)

    return decorate


def _annotation(spec: OptionSpec) -> object:
    """The parameter type discord.py turns into the option's type (string, or a ranged integer)."""
    if spec.integer is not None:
        low, high = spec.integer
        return app_commands.Range[int, low, high] | None
    return str | None


def fit_to_provider(command: app_commands.Command[Any, Any, Any], profile: ProviderProfile) -> None:
    """Narrow this bot's /imagine or /edit to what the provider serves: counts up to its images
    per request, only the formats it makes, no relaxed speed where it has no batches, and no
    markup where its edits cannot carry one (the modals' markups are refused at admission).

    discord.py keeps a command's options in `_params`; each cog instance holds its own copy of
    that dict (Command._copy_with), so replacing entries changes only this bot's commands.
    """
    params = command._params
    if not profile.edits.markup:
        params.pop("markup", None)
    count = BY_FIELD["n"].option
    most = profile.limits.max_images
    if count in params and most < (params[count].max_value or most + 1):
        params[count] = dataclasses.replace(
            params[count], max_value=most, description=f"How many images (1-{most})."
        )
    kept = {
        "output_format": profile.limits.output_formats,
        "speed": ("fast", "relaxed") if profile.features.batches else ("fast",),
    }
    for field, allowed in kept.items():
        name = BY_FIELD[field].option
        if name in params:
            choices = [c for c in params[name].choices if c.value in allowed]
            params[name] = dataclasses.replace(params[name], choices=choices)
