"""Inpainting masks for /images/edits: a PNG with alpha, alpha 0 where the image may change."""

from __future__ import annotations

import io

from PIL import Image

from bot.domain import InputImage
from bot.errors import InvalidImageError
from bot.imaging.convert import (
    MAX_INPUT_PIXELS,
    MAX_SOURCE_BYTES,
    check_file_size,
    encode,
    has_alpha,
    load_image,
    min_alpha,
    open_image,
    orientation,
    upright,
)

# The API spec says the mask must be "less than 4MB" (the guide says 50 MB); 4 * 10**6 satisfies
# both readings of the stricter one.
MASK_MAX_BYTES = 4_000_000
# Black-and-white masks: grey levels from 50% up count as white, i.e. the area to change.
_WHITE_TO_TRANSPARENT = [255] * 128 + [0] * 128

NOTHING_TO_CHANGE = "the mask has no white or transparent area, so nothing would change"
TOO_DETAILED = "the mask is too detailed to send (over 4 MB as a PNG); use plain black and white"


def prepare_mask(
    data: bytes,
    *,
    filename: str,
    size: tuple[int, int],
    max_pixels: int = MAX_INPUT_PIXELS,
    max_bytes: int = MAX_SOURCE_BYTES,
) -> InputImage:
    """A mask the API takes: RGBA PNG of `size` (the first input image's size), under 4 MB.

    A mask with transparency is used as drawn (alpha 0 = change); one without (black and white,
    greyscale, RGB) is read as WHITE = change. Any format `prepare_input` reads is accepted.
    """
    width, height = size
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {size}")
    check_file_size(data, filename, max_bytes)
    with open_image(data, filename, max_pixels) as image:
        load_image(image, filename)
        if _usable_as_is(image, data, size):
            return InputImage(data, "image/png", width, height)
        mask = _alpha_mask(upright(image), size)
    if min_alpha(mask) != 0:
        raise InvalidImageError(filename, NOTHING_TO_CHANGE)
    return InputImage(_encoded(mask, filename), "image/png", width, height)


def _usable_as_is(image: Image.Image, data: bytes, size: tuple[int, int]) -> bool:
    """An upright RGBA PNG of the right size and weight that marks something to change."""
    return (
        image.format == "PNG"
        and image.mode == "RGBA"
        and image.size == size
        and len(data) < MASK_MAX_BYTES
        and orientation(image) == 1
        and min_alpha(image) == 0
    )


def _alpha_mask(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """RGBA of `size` whose alpha is 0 where the image may change."""
    if has_alpha(image):
        rgba = image.convert("RGBA")
        return rgba if rgba.size == size else rgba.resize(size, Image.Resampling.BILINEAR)
    # An alpha band that is opaque everywhere carries no mask: read the picture as black/white.
    grey = image.convert("L")
    if grey.size != size:
        # Resize the grey levels, then threshold, so the mask's edges stay crisp.
        grey = grey.resize(size, Image.Resampling.BILINEAR)
    alpha = grey.point(_WHITE_TO_TRANSPARENT)
    return Image.merge("RGBA", (grey, grey, grey, alpha))


def _encoded(mask: Image.Image, filename: str) -> bytes:
    """PNG bytes under MASK_MAX_BYTES; only alpha matters to the API, so shed the rest if needed."""
    alpha = mask.getchannel("A")
    black = Image.new("L", mask.size, 0)
    binary = alpha.point([0] * 128 + [255] * 128)
    for candidate in (
        mask,
        Image.merge("RGBA", (black, black, black, alpha)),
        Image.merge("RGBA", (black, black, black, binary)),
    ):
        data = encode(candidate, "PNG", optimize=True)
        if len(data) < MASK_MAX_BYTES:
            return data
    raise InvalidImageError(filename, TOO_DETAILED)


def white_edits(mask: InputImage) -> InputImage:
    """A prepared mask (alpha 0 = change) in the opposite convention some providers use: an
    opaque black-and-white PNG, white where the image may change and black where it is kept
    (fal.ai: https://fal.ai/models/fal-ai/gpt-image-1.5/edit/api, mask_image_url). An alpha below
    half counts as "change", the threshold prepare_mask reads black-and-white masks with."""
    with Image.open(io.BytesIO(mask.data)) as image:
        alpha = image.convert("RGBA").getchannel("A")
    white = alpha.point([255] * 128 + [0] * 128)
    return InputImage(encode(white, "PNG", optimize=True), "image/png", mask.width, mask.height,
                      mask.name)  # fmt: skip
