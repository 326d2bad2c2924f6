"""Results made ready for Discord: every image under the per-file limit, ten files per message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from PIL import Image

from bot.imaging.convert import format_name, load_image, open_image, shrink_to_fit, upright

T = TypeVar("T")

# Discord refuses more than 10 attachments in one message (error 30015).
MAX_FILES_PER_MESSAGE = 10
# Below this a limit is a bug, not a server setting (Discord's smallest is 10 MiB); it also
# guarantees the downscaling loop ends, since a tiny JPEG or WebP is a few hundred bytes.
MIN_LIMIT_BYTES = 1024
# Discord shows "jpg" files everywhere; the rest keep Pillow's name.
_EXTENSIONS = {"jpeg": "jpg"}


@dataclass(frozen=True, slots=True)
class EncodedFile:
    """An image ready to attach: its file name (stem plus real extension), bytes and size."""

    filename: str
    data: bytes = field(repr=False)
    mime: str
    width: int
    height: int


def _file(stem: str, fmt: str, data: bytes, size: tuple[int, int]) -> EncodedFile:
    extension = _EXTENSIONS.get(fmt, fmt)
    mime = Image.MIME.get(fmt.upper(), f"image/{fmt}")
    return EncodedFile(f"{stem}.{extension}", data, mime, size[0], size[1])


def fit_for_upload(data: bytes, *, limit_bytes: int, filename_stem: str) -> EncodedFile:
    """The image as it is when it fits in `limit_bytes`, else re-encoded until it does.

    Never drops an image: transparency is kept where possible (WebP), opaque images become
    JPEG, and as a last resort the image is downscaled step by step. Re-encoding drops metadata
    (including any provenance data); the bytes kept under DATA_DIR are the original ones.
    Raises InvalidImageError when `data` is not a readable image.
    """
    if limit_bytes < MIN_LIMIT_BYTES:
        raise ValueError(f"limit_bytes must be at least {MIN_LIMIT_BYTES}, got {limit_bytes}")
    # Results come from the API (at most ~8.3 Mpx), so only Pillow's own bomb check applies.
    with open_image(data, filename_stem, None) as image:
        if len(data) <= limit_bytes:
            return _file(filename_stem, format_name(image), data, image.size)
        load_image(image, filename_stem)
        frame = upright(image)
    encoded, fmt, final = shrink_to_fit(frame, limit_bytes, len(data) < limit_bytes * 3 // 2)
    return _file(filename_stem, fmt, encoded, final.size)


def split_into_messages(
    files: Sequence[T], max_per_message: int = MAX_FILES_PER_MESSAGE
) -> list[list[T]]:
    """Consecutive groups of at most `max_per_message` files, in their original order."""
    if max_per_message < 1:
        raise ValueError(f"max_per_message must be at least 1, got {max_per_message}")
    return [list(files[i : i + max_per_message]) for i in range(0, len(files), max_per_message)]
