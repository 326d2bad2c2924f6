"""Turn a Submission's Choices into ImageOptions checked against its model and the guild."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.catalog.models import Catalog, ModelSpec
from bot.catalog.shapes import JSON_EDIT_SIZES, pixels_of, size_for_shape
from bot.choices import OPTIONS, values_of
from bot.domain import Choices, ImageOptions, Quality, Relaxed, Speed, apply_style
from bot.errors import InvalidOptionError, ModelNotAllowedError, ModelRetiredError
from bot.guild_settings import GuildSettings
from bot.jobs.models import Submission
from bot.provider.batch_wire import DATA_URL_MAX_CHARS, data_url_length
from bot.text import drop_controls, name_key

MAX_PROMPT_CHARS = 4000  # README, Commands: prompts of 1 to 4000 characters
PREVIEW_PARTIAL_IMAGES = 2  # two previews: one early, one nearly done; each costs 100 tokens


@dataclass(frozen=True, slots=True)
class ValidRequest:
    """A submission checked against its model and guild: what admission prices and stores.

    With `options`, `style` and `speed` it holds the resolved value of every field of Choices.
    """

    spec: ModelSpec
    prompt: str
    options: ImageOptions
    style: str | None
    speed: Speed
    style_text: str | None = None  # the style's text now (stored on the job with its name)

    @property
    def request_prompt(self) -> str:
        """What is sent upstream, priced and screened: the prompt with the style's text."""
        return apply_style(self.prompt, self.style_text)


def validate(
    s: Submission,
    settings: GuildSettings,
    catalog: Catalog,
    *,
    default_model: str,
    today: date,
    offered: Callable[[str], bool] | None = None,
) -> ValidRequest:
    """Apply the guild's defaults and check every option, or raise the error naming it.
    `offered` says whether the provider offers a model (None: all): a retired model's
    replacement is suggested, or used, only where it is."""
    c = s.choices
    spec = _model(c, settings, catalog, default_model, today, offered)
    prompt = _prompt(c.prompt, spec)
    _check_inputs(s, spec)
    n = _count(c.n, settings, spec)
    fixed = _fixed_options(s)
    _check_model_takes(fixed, spec)
    speed = check_speed(c.speed, settings.config.relaxed)
    if speed == "relaxed" and not spec.offers_relaxed:
        speed = _fast_instead(c.speed, settings.config.relaxed, spec)
    if speed == "relaxed":
        _check_batch_inputs(s)
    options = ImageOptions(
        model=spec.name,
        size=_size(s, settings.config.default_size, spec, speed),
        quality=_quality(c.quality, settings.config.default_quality, spec),
        n=n,
        moderation=settings.config.moderation,
        # Previews stream only for single images (the API streams n=1 only); a batch never
        # streams.
        partial_images=_previews(settings, n, speed),
        **fixed,  # each one of its Literal's values: checked against the table
    )
    style = check_style(c.style, settings.styles)
    style_text = settings.styles[style] if style is not None else None
    valid = ValidRequest(spec, prompt, options, style, speed, style_text)
    _check_styled_length(valid)
    return valid


def _check_batch_inputs(s: Submission) -> None:
    """A batch line carries each input as a data URL, which has a length limit."""
    inputs = (*s.images, *(() if s.mask is None else (s.mask,)))
    for image in inputs:
        if data_url_length(image) > DATA_URL_MAX_CHARS:
            name = image.name or ("the mask" if image is s.mask else "an image")
            raise InvalidOptionError(
                "speed", f"{name} is too large for the relaxed speed (15 MB at most); choose fast"
            )


def _check_styled_length(valid: ValidRequest) -> None:
    limit = min(MAX_PROMPT_CHARS, valid.spec.max_prompt_chars)
    length = len(valid.request_prompt)
    if valid.style is not None and length > limit:
        raise InvalidOptionError(
            "prompt",
            f"with the style {valid.style} it is {length} characters; the limit is {limit}",
        )


def _previews(settings: GuildSettings, n: int, speed: Speed) -> int:
    if settings.config.previews and n == 1 and speed == "fast":
        return PREVIEW_PARTIAL_IMAGES
    return 0


def check_style(name: str | None, styles: Mapping[str, str]) -> str | None:
    """The guild style's name as stored (matched by bot/text.py name_key: case, invisible
    characters and look-alike letters aside), or None for no style.

    `styles` maps the guild's style names to their text. Raises InvalidOptionError when the
    guild has no style of that name.
    """
    if name is None or not name.strip():
        return None
    wanted = name.strip()
    key = name_key(wanted)
    for known in styles:
        if name_key(known) == key:
            return known
    raise InvalidOptionError("style", f"no style named {wanted} on this server")


def check_speed(speed: str | None, relaxed: Relaxed) -> Speed:
    """The job's speed: the member's, or the guild's default ("relaxed" when `relaxed` is
    default or only). Raises InvalidOptionError for an unknown speed, relaxed when the guild
    has it off, and fast when the guild allows only relaxed."""
    if speed is None or not speed.strip():
        return "relaxed" if relaxed in ("default", "only") else "fast"
    chosen = _choice("speed", speed, "fast", values_of("speed"))
    if chosen == "relaxed" and relaxed == "off":
        raise InvalidOptionError("speed", "relaxed speed is not enabled on this server")
    if chosen == "fast" and relaxed == "only":
        raise InvalidOptionError("speed", "this server takes only relaxed jobs")
    return chosen  # type: ignore[return-value]  # one of the table's speeds


def _fast_instead(chosen: str | None, relaxed: Relaxed, spec: ModelSpec) -> Speed:
    """A model without batch prices: fast when relaxed was only the guild's default (the
    member chose no speed), else a refusal that says what to pick instead."""
    if (chosen is None or not chosen.strip()) and relaxed == "default":
        return "fast"
    hint = (
        "; this server takes only relaxed jobs, so pick another model" if relaxed == "only" else ""
    )
    raise InvalidOptionError("speed", f"{spec.name} is not offered at the relaxed speed{hint}")


def _model(
    c: Choices,
    settings: GuildSettings,
    catalog: Catalog,
    default_model: str,
    today: date,
    offered: Callable[[str], bool] | None,
) -> ModelSpec:
    name = (c.model or settings.config.default_model or default_model).strip()
    allowed = settings.config.allowed_models
    if allowed is not None and name not in allowed:
        raise ModelNotAllowedError(name, tuple(m for m in allowed if m in catalog.names()))
    spec = catalog.get(name)
    if spec.is_retired(today):
        # A default the member did not pick gives way to the catalog's replacement (README:
        # a retired guild default never fails every plain /imagine); a model they picked is
        # refused, naming the replacement.
        instead = None if c.model else _replacement(spec, catalog, today, allowed, offered)
        if instead is not None:
            return instead
        shutdown = spec.shutdown.isoformat() if spec.shutdown else "an earlier date"
        named = spec.replacement
        if named is not None and offered is not None and not offered(named):
            named = None  # advice the provider cannot follow: name none
        raise ModelRetiredError(name, shutdown, named)
    return spec


def _replacement(
    spec: ModelSpec,
    catalog: Catalog,
    today: date,
    allowed: tuple[str, ...] | None,
    offered: Callable[[str], bool] | None,
) -> ModelSpec | None:
    """The retired model's replacement when the catalog has it live, the guild allows it and
    the provider offers it."""
    name = spec.replacement
    if name is None or name not in catalog.names() or (allowed and name not in allowed):
        return None
    if offered is not None and not offered(name):
        return None
    found = catalog.get(name)
    return None if found.is_retired(today) else found


def _prompt(prompt: str, spec: ModelSpec) -> str:
    text = drop_controls(prompt).strip()
    if not text:
        raise InvalidOptionError("prompt", "write what you want to see")
    limit = min(MAX_PROMPT_CHARS, spec.max_prompt_chars)
    if len(text) > limit:
        raise InvalidOptionError("prompt", f"is {len(text)} characters; the limit is {limit}")
    return text


def _check_markup(s: Submission, spec: ModelSpec) -> None:
    """A markup is drawn over the first image: its size, never with a mask, on models that take
    it (the API: "Must match that image's dimensions ... Cannot be combined with mask")."""
    markup = s.markup
    if markup is None:
        return
    if s.mask is not None:
        raise InvalidOptionError("markup", "use a markup or a mask, not both")
    if not spec.markup:
        raise InvalidOptionError("markup", f"{spec.name} does not take a markup")
    first = s.images[0]
    if (markup.width, markup.height) != (first.width, first.height):
        raise InvalidOptionError(
            "markup",
            f"it is {markup.width}x{markup.height}; it must be the size of the first image "
            f"({first.width}x{first.height})",
        )


def _check_inputs(s: Submission, spec: ModelSpec) -> None:
    if s.operation == "edit":
        if not s.images:
            raise InvalidOptionError("image", "an edit needs at least one image")
        if len(s.images) > spec.max_input_images:
            raise InvalidOptionError(
                "image", f"{spec.name} takes at most {spec.max_input_images} images"
            )
        _check_markup(s, spec)
        return
    if s.markup is not None:
        raise InvalidOptionError("markup", "a markup only applies to an edit")
    if s.images:
        raise InvalidOptionError("image", "only edits take images")
    if s.mask is not None:
        raise InvalidOptionError("mask", "a mask only applies to an edit")


def _count(n: int | None, settings: GuildSettings, spec: ModelSpec) -> int:
    count = 1 if n is None else n
    if count < 1:
        raise InvalidOptionError("count", "must be at least 1")
    if count > spec.max_n:
        raise InvalidOptionError("count", f"{spec.name} makes at most {spec.max_n} per request")
    cap = settings.limits.count_cap
    if count > cap:
        raise InvalidOptionError("count", f"this server allows at most {cap} per request")
    return count


def _fixed_options(s: Submission) -> dict[str, Any]:
    """Each fixed-value option of bot/choices.py whose default is the table's (not the guild's),
    by its field: the member's value checked against the allowed values, or the default. An
    edit-only option picked for a generation is refused."""
    picked: dict[str, Any] = {}
    for spec in OPTIONS:
        if not spec.fixed or spec.by_guild:
            continue
        value = getattr(s.choices, spec.field)
        if value is None or not value.strip():
            picked[spec.field] = spec.default
            continue
        picked[spec.field] = _choice(spec.option, value, "", spec.values)
        if spec.edit_only and s.operation != "edit":
            raise InvalidOptionError(spec.option, "only applies to edits")
    return picked


def _check_model_takes(fixed: Mapping[str, Any], spec: ModelSpec) -> None:
    """The rules a model or another option sets on a fixed-value option."""
    if fixed["background"] == "transparent":
        if not spec.transparent_background:
            raise InvalidOptionError("background", f"{spec.name} cannot make transparent images")
        if fixed["output_format"] == "jpeg":
            raise InvalidOptionError("background", "transparent images need png or webp")
    if fixed["input_fidelity"] is not None and not spec.input_fidelity:
        raise InvalidOptionError("fidelity", f"{spec.name} does not take a fidelity setting")


def _choice(option: str, value: str | None, default: str, choices: tuple[str, ...]) -> str:
    chosen = (value or default).strip().lower()
    if chosen not in choices:
        raise InvalidOptionError(option, f"must be one of {', '.join(choices)}")
    return chosen


def _size(s: Submission, default: str, spec: ModelSpec, speed: Speed) -> str:
    # A relaxed edit goes out as a batch line's JSON body, which lists fewer sizes.
    json_body = speed == "relaxed" and s.operation == "edit"
    if s.choices.size:
        size = spec.validate_size(s.choices.size)
        if json_body and size not in JSON_EDIT_SIZES:
            raise InvalidOptionError(
                "size", f"a relaxed edit takes {', '.join(JSON_EDIT_SIZES)}; or choose fast"
            )
        return size
    if s.operation == "edit" and s.images:  # keep the first image's shape, at the default's pixels
        first = s.images[0]
        pixels = pixels_of(default)
        return size_for_shape(spec, first.width, first.height, pixels=pixels, listed_only=json_body)
    try:
        return spec.validate_size(default)
    except InvalidOptionError:
        # The guild's default suits another model; the member did not ask for it.
        return "auto" if "auto" in spec.sizes else spec.resolved_sizes()[0]


def _quality(quality: str | None, default: Quality, spec: ModelSpec) -> Quality:
    if quality:
        chosen = quality.strip().lower()
        if chosen not in spec.qualities:
            raise InvalidOptionError("quality", f"{spec.name} offers {', '.join(spec.qualities)}")
        return chosen  # type: ignore[return-value]  # one of the catalog's qualities
    if default in spec.qualities:
        return default
    return "auto" if "auto" in spec.qualities else spec.qualities[0]  # type: ignore[return-value]
