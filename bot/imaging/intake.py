"""Attachments on their way in: cheap checks before download, decoding off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePath

from bot.domain import InputImage
from bot.errors import InvalidImageError
from bot.imaging.convert import MAX_SOURCE_BYTES, prepare_input
from bot.imaging.markup import prepare_markup as _prepare_markup
from bot.imaging.masks import prepare_mask as _prepare_mask

# Extensions Pillow reads that members plausibly attach; anything else is refused unread.
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".jfif", ".avif"}
    | {".heic", ".heif", ".hif", ".mpo"}  # phone photos: iPhone HEIC, camera multi-picture JPEG
)


@dataclass(frozen=True, slots=True)
class DeclaredFile:
    """What Discord says about an attachment before we download it."""

    filename: str
    size: int
    content_type: str | None


@dataclass(frozen=True, slots=True)
class Blob:
    """A downloaded attachment."""

    filename: str
    data: bytes = field(repr=False)


def looks_like_image(file: DeclaredFile) -> bool:
    """By content type or extension; the bytes are checked after download."""
    if file.content_type and file.content_type.split(";")[0].strip().startswith("image/"):
        return True
    return PurePath(file.filename).suffix.lower() in IMAGE_EXTENSIONS


def check_declared(files: Sequence[DeclaredFile]) -> None:
    """Refuse, before downloading, files that are not images or are too big to be worth it."""
    for file in files:
        if not looks_like_image(file):
            raise InvalidImageError(file.filename, "this file is not an image")
        if file.size > MAX_SOURCE_BYTES:
            mb = MAX_SOURCE_BYTES / 1_000_000
            raise InvalidImageError(file.filename, f"the file is too big; the most is {mb:.0f} MB")


async def prepare_inputs(blobs: Sequence[Blob]) -> list[InputImage]:
    """Decode, validate and normalise every input image, off the event loop; each keeps its
    file name so a provider's error about "image N" can name it."""
    prepared = []
    for blob in blobs:
        image = await asyncio.to_thread(prepare_input, blob.data, filename=blob.filename)
        prepared.append(replace(image, name=blob.filename))
    return prepared


async def prepare_mask(blob: Blob, size: tuple[int, int]) -> InputImage:
    """Turn a transparent or black-and-white mask into the API's alpha mask at `size`."""
    return await asyncio.to_thread(_prepare_mask, blob.data, filename=blob.filename, size=size)


async def prepare_markup(blob: Blob, size: tuple[int, int]) -> InputImage:
    """A markup drawn over the first image (`size`): a transparent PNG of its shape."""
    return await asyncio.to_thread(_prepare_markup, blob.data, filename=blob.filename, size=size)
