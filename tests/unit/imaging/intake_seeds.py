"""Seed files and mutations for the fuzzed intake: every format, mode and oddity members send."""

from __future__ import annotations

import functools
import io
import struct
import zlib
from collections.abc import Callable

import pillow_heif
from PIL import Image, ImageCms

Seed = tuple[str, bytes]


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _heif(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=60)
    return buffer.getvalue()


def _frames(mode: str, count: int, size: tuple[int, int] = (24, 16)) -> list[Image.Image]:
    colours = ["red", "green", "blue", "white"]
    return [Image.new(mode, size, colours[i % 4]) for i in range(count)]


def png_with_header(width: int, height: int, *, fix_crc: bool = True) -> bytes:
    """An 8-bit RGB PNG whose IHDR claims width x height over a tiny compressed body."""

    def chunk(kind: bytes, body: bytes, crc_ok: bool = True) -> bytes:
        crc = zlib.crc32(kind + body) if crc_ok else 0
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 4096)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header, fix_crc)
        + chunk(b"IDAT", body)
        + chunk(b"IEND", b"")
    )


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return _save(Image.new("RGB", (32, 20), "navy"), "JPEG", exif=exif.tobytes())


def _grey16() -> Image.Image:
    image = Image.new("I;16", (20, 12))
    for x in range(20):
        image.putpixel((x, 0), x * 3000)
    return image


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
_BUILDERS: dict[str, Callable[[], bytes]] = {
    "png-rgb": lambda: _save(Image.new("RGB", (32, 24), "red"), "PNG"),
    "png-rgba": lambda: _save(Image.new("RGBA", (32, 24), (1, 2, 3, 40)), "PNG"),
    "png-p-transparent": lambda: _save(Image.new("P", (16, 16), 1), "PNG", transparency=1),
    "png-la": lambda: _save(Image.new("LA", (16, 16), (90, 30)), "PNG"),
    "png-l": lambda: _save(Image.new("L", (16, 16), 90), "PNG"),
    "png-1bit": lambda: _save(Image.new("1", (16, 16), 1), "PNG"),
    "png-16bit-grey": lambda: _save(_grey16(), "PNG"),
    "png-icc": lambda: _save(Image.new("RGB", (16, 16), "teal"), "PNG", icc_profile=_SRGB),
    "png-bad-icc": lambda: _save(Image.new("RGB", (16, 16), "teal"), "PNG", icc_profile=b"x" * 64),
    "apng": lambda: _save(
        _frames("RGBA", 1)[0], "PNG", save_all=True, append_images=_frames("RGBA", 3)
    ),
    "png-bomb-header": lambda: png_with_header(30_000, 30_000),
    "png-zero-width": lambda: png_with_header(0, 16),
    "jpeg-rgb": lambda: _save(Image.new("RGB", (32, 24), "orange"), "JPEG"),
    "jpeg-grey": lambda: _save(Image.new("L", (32, 24), 40), "JPEG"),
    "jpeg-cmyk": lambda: _save(Image.new("CMYK", (32, 24), (0, 90, 200, 10)), "JPEG"),
    "jpeg-cmyk-bad-icc": lambda: _save(
        Image.new("CMYK", (16, 16), (9, 9, 9, 9)), "JPEG", icc_profile=b"junk" * 40
    ),
    "jpeg-progressive": lambda: _save(Image.new("RGB", (40, 30), "pink"), "JPEG", progressive=True),
    "jpeg-exif-rotated": _exif_rotated,
    "mpo": lambda: _save(
        Image.new("RGB", (48, 36), "teal"),
        "MPO",
        save_all=True,
        append_images=[Image.new("RGB", (12, 9), "white")],
    ),
    "webp-rgb": lambda: _save(Image.new("RGB", (32, 24), "olive"), "WEBP"),
    "webp-rgba": lambda: _save(Image.new("RGBA", (32, 24), (5, 5, 5, 5)), "WEBP", lossless=True),
    "webp-animated": lambda: _save(
        _frames("RGB", 1)[0], "WEBP", save_all=True, append_images=_frames("RGB", 2)
    ),
    "gif": lambda: _save(Image.new("P", (20, 20), 3), "GIF"),
    "gif-animated": lambda: _save(
        _frames("P", 1)[0], "GIF", save_all=True, append_images=_frames("P", 3)
    ),
    "bmp": lambda: _save(Image.new("RGB", (20, 10), "yellow"), "BMP"),
    "tiff-rgb": lambda: _save(Image.new("RGB", (20, 10), "purple"), "TIFF"),
    "tiff-cmyk": lambda: _save(Image.new("CMYK", (20, 10), (1, 2, 3, 4)), "TIFF"),
    "tiff-16bit": lambda: _save(_grey16(), "TIFF"),
    "tiff-float": lambda: _save(Image.new("F", (8, 8), 0.5), "TIFF"),
    "tiff-deflate": lambda: _save(
        Image.new("RGB", (20, 10), "gray"), "TIFF", compression="tiff_adobe_deflate"
    ),
    "tiff-pages": lambda: _save(
        _frames("RGB", 1)[0], "TIFF", save_all=True, append_images=_frames("RGB", 2)
    ),
    "heic": lambda: _heif(Image.new("RGB", (32, 24), "orange")),
    "heic-rgba": lambda: _heif(Image.new("RGBA", (32, 24), (1, 200, 3, 100))),
    "avif": lambda: _save(Image.new("RGB", (32, 24), "green"), "AVIF", quality=50),
    "avif-rgba": lambda: _save(Image.new("RGBA", (32, 24), (7, 7, 7, 7)), "AVIF", quality=50),
    "psd-header": lambda: b"8BPS\x00\x01" + b"\x00" * 200,
    "pdf": lambda: b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 20,
    "svg": lambda: b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
    "text": lambda: b"these are my notes, not a picture\n" * 10,
    "empty": lambda: b"",
}


@functools.cache
def seeds() -> tuple[Seed, ...]:
    """Every seed, built once per process."""
    return tuple((name, build()) for name, build in _BUILDERS.items())
