"""The options a member picks on /imagine and /edit, each defined once: values, name and docs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

# A fixed-value option's allowed values are its Literal's arguments, in the order a menu lists
# them: typed code and the table below both read them from here.
# xhigh and max: GPT Image 2.5 and later, where the catalog lists them (openai 3.63.0,
# https://github.com/openai/openai-python types/image_generate_params.py).
Quality = Literal["auto", "low", "medium", "high", "xhigh", "max"]
Background = Literal["auto", "transparent", "opaque"]
OutputFormat = Literal["png", "jpeg", "webp"]
Fidelity = Literal["low", "high"]
Speed = Literal["fast", "relaxed"]  # README: fast = now, paced by IPM; relaxed = the Batch API


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One option of /imagine (and /edit): where it lives, what it may be, what it says.

    `field` names the `Choices` field (bot/domain.py) and, when `api` is set, the `ImageOptions`
    field whose value is sent as that Images API body field. `values` makes it a fixed-value
    option (a Discord menu); `default` is what "not picked" means for one, or None when the
    guild's settings decide (checked by their own rule in validation) or nothing is sent.
    """

    field: str
    option: str  # the Discord option name
    description: str  # Discord's option description (at most 100 characters)
    values: tuple[str, ...] = ()
    default: str | None = None
    integer: tuple[int, int] | None = None  # the inclusive range of a whole-number option
    api: str | None = None
    edit_only: bool = False  # offered on /edit only; refused on a generation
    kept_by_edit: bool = True  # False: the Edit button resets it (one image, the API default)
    by_guild: bool = False  # the guild's settings give the default and the rules (validation)

    @property
    def fixed(self) -> bool:
        return bool(self.values)


# In the order /imagine and /edit list them (after the prompt and, on /edit, the images).
OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("size", "size", "Width x height, or auto.", api="size"),
    OptionSpec(
        "quality",
        "quality",
        "Higher quality costs more.",
        values=get_args(Quality),
        api="quality",
        by_guild=True,
    ),
    OptionSpec(
        "n", "count", "How many images (1-10).", integer=(1, 10), api="n", kept_by_edit=False
    ),
    OptionSpec(
        "input_fidelity",
        "fidelity",
        "How closely to keep the input's details (where the model supports it).",
        values=get_args(Fidelity),
        api="input_fidelity",
        edit_only=True,
        kept_by_edit=False,
    ),
    OptionSpec(
        "background",
        "background",
        "Transparent needs png or webp.",
        values=get_args(Background),
        default="auto",
        api="background",
    ),
    OptionSpec(
        "output_format",
        "format",
        "png, jpeg or webp.",
        values=get_args(OutputFormat),
        default="png",
        api="output_format",
    ),
    OptionSpec("model", "model", "Which image model to use.", api="model"),
    OptionSpec("style", "style", "One of this server's styles, combined with your prompt."),
    OptionSpec(
        "speed",
        "speed",
        "fast (now) or relaxed (cheaper, through a batch; minutes to hours).",
        values=get_args(Speed),
        by_guild=True,
    ),
)
BY_FIELD: dict[str, OptionSpec] = {spec.field: spec for spec in OPTIONS}


def options_for(operation: Literal["generate", "edit"]) -> tuple[OptionSpec, ...]:
    """The options the command for `operation` offers, in order."""
    return tuple(spec for spec in OPTIONS if operation == "edit" or not spec.edit_only)


def values_of(field: str) -> tuple[str, ...]:
    """The allowed values of a fixed-value option, e.g. values_of("background")."""
    return BY_FIELD[field].values
