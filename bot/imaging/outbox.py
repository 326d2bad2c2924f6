"""Result files made ready for Discord: fitted under a per-file size limit."""

from __future__ import annotations

from collections.abc import Sequence

from bot.imaging.uploads import EncodedFile, fit_for_upload


def encode_results(images: Sequence[bytes], limit_bytes: int) -> list[EncodedFile]:
    """Every kept result, in order, each re-encoded only when it would not fit."""
    return [
        fit_for_upload(data, limit_bytes=limit_bytes, filename_stem=f"image-{i + 1}")
        for i, data in enumerate(images)
    ]


def encode_preview(data: bytes, limit_bytes: int) -> EncodedFile:
    """A streamed partial image, fitted like a result."""
    return fit_for_upload(data, limit_bytes=limit_bytes, filename_stem="preview")
