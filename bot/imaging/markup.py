"""Markup images for /images/edits: a transparent PNG of the first image's size, drawn over it."""

from __future__ import annotations

import io

from PIL import Image

from bot.domain import InputImage
from bot.errors import InvalidImageError
from bot.imaging.convert import (
    MAX_INPUT_PIXELS,
    MAX_SOURCE_BYTES,
    check_file_size,
    has_alpha,
    load_image,
    min_alpha,
    open_image,
    upright,
)

NOT_TRANSPARENT = (
    "a markup is drawn over the first image, so it needs transparent areas (a PNG with "
    "only your circles, arrows or scribbles)"
)
_SAME_SHAPE = 0.01  # a drawing saved at another resolution still lines up within 1 %


def prepare_markup(
    data: bytes,
    *,
    filename: str,
    size: tuple[int, int],
    max_pixels: int = MAX_INPUT_PIXELS,
    max_bytes: int = MAX_SOURCE_BYTES,
) -> InputImage:
    """An RGBA PNG markup at `size` (the first input's) when it has that shape; another shape
    is kept as it is, so that admission refuses it naming both sizes."""
    check_file_size(data, filename, max_bytes)
    with open_image(data, filename, max_pixels) as image:
        load_image(image, filename)
        if not has_alpha(image):
            raise InvalidImageError(filename, NOT_TRANSPARENT)
        drawn = upright(image).convert("RGBA")
    if min_alpha(drawn) == 255:
        raise InvalidImageError(filename, NOT_TRANSPARENT)
    width, height = drawn.size
    if drawn.size != size and abs(width / height - size[0] / size[1]) <= _SAME_SHAPE * (
        size[0] / size[1]
    ):
        drawn = drawn.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    drawn.save(out, "PNG", optimize=False)
    return InputImage(out.getvalue(), "image/png", drawn.width, drawn.height, filename)
