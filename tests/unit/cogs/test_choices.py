"""A row of bot/choices.py becomes a Discord option: its name, type, description and menu."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.choices import OptionSpec
from cogs._choices import member_options

# A made-up option, as a new row of the table would be: edit-only, three fixed values.
MARKUP = OptionSpec(
    "markup", "markup", "Draw arrows or circles first.", values=("none", "arrows", "circles")
)
COUNT = OptionSpec("n", "count", "How many images.", integer=(1, 4))
SIZE = OptionSpec("size", "size", "Width x height.")


def _command(*specs: OptionSpec) -> app_commands.Command[Any, Any, None]:
    async def callback(interaction: discord.Interaction, prompt: str, **picked: Any) -> None:
        pass

    decorated = member_options(specs)(callback)
    return app_commands.Command(name="try", description="A test.", callback=decorated)


def test_a_new_row_is_an_optional_option_with_its_menu_and_description() -> None:
    command = _command(SIZE, MARKUP, COUNT)
    assert [p.name for p in command.parameters] == ["prompt", "size", "markup", "count"]
    markup = command.get_parameter("markup")
    assert markup is not None
    assert markup.description == "Draw arrows or circles first."
    assert [c.value for c in markup.choices] == ["none", "arrows", "circles"]
    assert (markup.required, markup.type) == (False, discord.AppCommandOptionType.string)
    count = command.get_parameter("count")
    assert count is not None
    assert (count.type, count.min_value, count.max_value) == (
        discord.AppCommandOptionType.integer, 1, 4
    )  # fmt: skip
    size = command.get_parameter("size")
    assert size is not None and size.autocomplete  # the catalog's sizes, as the member types
