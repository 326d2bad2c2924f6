"""Value objects shared by the core: image requests, token usage and API results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from bot.choices import (
    OPTIONS,
    Background as Background,  # the option types, re-exported
    Fidelity as Fidelity,
    OutputFormat as OutputFormat,
    Quality as Quality,
    Speed as Speed,
)

Operation = Literal["generate", "edit"]
Moderation = Literal["auto", "low"]
# README, /config set relaxed: whether members may, by default do, or must use the relaxed speed.
Relaxed = Literal["off", "allowed", "default", "only"]

QUALITIES: tuple[Quality, ...] = get_args(Quality)
BACKGROUNDS: tuple[Background, ...] = get_args(Background)
OUTPUT_FORMATS: tuple[OutputFormat, ...] = get_args(OutputFormat)
SPEEDS: tuple[Speed, ...] = get_args(Speed)
MIME_BY_FORMAT: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


@dataclass(frozen=True, slots=True)
class Choices:
    """Every option a member picks on /imagine and /edit, as given (not yet validated).

    None means the guild's default. Each field but the prompt is an option of bot/choices.py
    OPTIONS, which the commands, validation, the wire format and Re-roll read; adding an option
    is a row there and a field here (and on ImageOptions when it is sent upstream).
    tests/unit/test_choices.py and test_domain.py fail until the three agree.
    """

    prompt: str
    model: str | None = None
    size: str | None = None  # "WxH" or "auto"
    quality: str | None = None  # QUALITIES
    n: int | None = None  # the `count` option, images per job
    background: str | None = None  # BACKGROUNDS
    output_format: str | None = None  # the `format` option, OUTPUT_FORMATS
    input_fidelity: str | None = None  # the `fidelity` option (edits only), "low" | "high"
    style: str | None = None  # the name of one of the guild's styles
    speed: str | None = None  # SPEEDS

    @classmethod
    def from_options(cls, prompt: str, picked: Mapping[str, Any]) -> Choices:
        """The choices of a command's options, keyed by their Discord names (count, format...)."""
        return cls(
            prompt=prompt, **{s.field: picked[s.option] for s in OPTIONS if s.option in picked}
        )


@dataclass(frozen=True, slots=True)
class ImageOptions:
    """What to ask the API for, already validated against the model's catalog entry."""

    model: str
    size: str = "auto"
    quality: Quality = "auto"
    n: int = 1
    background: Background = "auto"
    output_format: OutputFormat = "png"
    moderation: Moderation = "auto"
    input_fidelity: Fidelity | None = None
    partial_images: int = 0


@dataclass(frozen=True, slots=True)
class InputImage:
    """An image ready to upload: PNG, JPEG or WebP bytes with their mimetype and size.

    `name` is the member's file name ("IMG_0001.HEIC"), so an error about this input can say
    which attachment it was; "" when unknown.
    """

    data: bytes = field(repr=False)
    mime: str
    width: int
    height: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """One call to the Images API: a generation, or an edit with its inputs and optional mask."""

    operation: Operation
    prompt: str
    options: ImageOptions
    images: tuple[InputImage, ...] = ()
    mask: InputImage | None = None
    markup: InputImage | None = None  # a transparent PNG over images[0]; never with a mask
    # The member as OpenAI's abuse monitoring sees them: a salted hash, never the Discord id.
    safety_identifier: str | None = None


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts from a response's `usage`, split the way prices are.

    Cached counts are part of their totals (as in OpenAI's usage objects): `text_input` includes
    `cached_text_input`, and `image_input` includes `cached_image_input`.
    """

    text_input: int = 0
    cached_text_input: int = 0
    image_input: int = 0
    cached_image_input: int = 0
    image_output: int = 0
    text_output: int = 0

    @property
    def input_total(self) -> int:
        return self.text_input + self.image_input

    @property
    def output_total(self) -> int:
        return self.image_output + self.text_output


@dataclass(frozen=True, slots=True)
class ImagesResult:
    """A successful Images API response, decoded."""

    images: tuple[bytes, ...] = field(repr=False)
    size: str
    quality: str
    output_format: str
    background: str
    usage: TokenUsage
    request_id: str | None
    latency_ms: int
    http_status: int = 200
    partial_images: int = 0
    # False when the response carried no usable `usage` (some gateways drop it, LocalAI sends
    # zeros): the call is then charged at its upper-bound estimate, marked estimated.
    usage_reported: bool = True


@dataclass(frozen=True, slots=True)
class PartialImage:
    """A preview streamed while the image renders."""

    index: int
    data: bytes = field(repr=False)


STYLE_PLACEHOLDER = "{prompt}"


def apply_style(prompt: str, style: str | None) -> str:
    """The prompt sent upstream for a member's prompt and a guild style's text (README, Styles):
    the style with the prompt at `{prompt}`, or, without the placeholder, the member's prompt
    first and the style after it."""
    prompt = prompt.strip()
    if not style:
        return prompt
    if STYLE_PLACEHOLDER in style:
        return style.replace(STYLE_PLACEHOLDER, prompt).strip()
    joiner = " " if prompt.endswith((".", "!", "?", ",", ";", ":")) else ". "
    return f"{prompt}{joiner}{style.strip()}"
