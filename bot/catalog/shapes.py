"""Output sizes that keep an input picture's shape: the nearest listed size, or a free size."""

from __future__ import annotations

import math

from bot.catalog.fields import parse_size
from bot.catalog.models import FreeSizeRule, ModelSpec

# The pixel budget when the guild's default size names none ("auto"): the square size every
# model lists.
DEFAULT_PIXELS = 1024 * 1024


# The sizes the JSON edit body lists (`EditImageBodyJsonParam.size` in OpenAI's spec,
# https://github.com/openai/openai-openapi); the multipart form takes a model's free sizes too.
# A batch line can only be JSON, so a relaxed edit asks for one of these.
JSON_EDIT_SIZES = ("auto", "1024x1024", "1536x1024", "1024x1536")


def pixels_of(size: str) -> int:
    """Width x height of a "WxH" size; DEFAULT_PIXELS for "auto" or anything else."""
    parsed = parse_size(size)
    return parsed[0] * parsed[1] if parsed else DEFAULT_PIXELS


def size_for_shape(
    spec: ModelSpec, width: int, height: int, *, pixels: int, listed_only: bool = False
) -> str:
    """The "WxH" to ask for so the result has the input's shape (width x height, in pixels).

    On a model with free sizes (the catalog's `free_size`), unless `listed_only`: the input's
    aspect ratio at about `pixels` pixels, within the model's rule (ratio capped at its
    maximum). Otherwise, or when no free size fits: the listed size whose aspect ratio is
    nearest, on a log scale (so 2:1 and 1:2 are equally far from square), the one nearest
    `pixels` on a tie. `listed_only` keeps to JSON_EDIT_SIZES as well.
    """
    if width < 1 or height < 1:
        raise ValueError(f"an image has positive sides, not {width}x{height}")
    if spec.free_size is not None and not listed_only:
        free = _free_size(spec.free_size, width / height, pixels)
        if free is not None:
            return free
    sizes = [size for size in spec.resolved_sizes() if not listed_only or size in JSON_EDIT_SIZES]
    return _nearest(sizes or list(spec.resolved_sizes()), math.log(width / height), pixels)


def _free_size(rule: FreeSizeRule, ratio: float, pixels: int) -> str | None:
    ratio = min(max(ratio, 1 / rule.max_ratio), rule.max_ratio)
    area = min(max(pixels, rule.min_pixels), rule.max_pixels)
    width = _multiple(math.sqrt(area * ratio), rule.multiple)
    height = _multiple(math.sqrt(area / ratio), rule.multiple)
    scale = min(1.0, rule.max_edge / max(width, height))
    width, height = (
        _multiple(width * scale, rule.multiple),
        _multiple(height * scale, rule.multiple),
    )
    return f"{width}x{height}" if rule.problem(width, height) is None else None


def _multiple(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def _nearest(sizes: list[str], log_ratio: float, pixels: int) -> str:
    def distance(size: str) -> tuple[float, int]:
        w, h = parse_size(size) or (1, 1)
        return abs(math.log(w / h) - log_ratio), abs(w * h - pixels)

    return min(sizes, key=distance)
