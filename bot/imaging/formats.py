"""Which files the intake decodes, how unknown ones are named, and pixels made 8-bit RGB(A)."""

from __future__ import annotations

import functools
import io
import struct

from PIL import Image, ImageCms, UnidentifiedImageError

# The Pillow plugins tried on a member's upload, most common first. Everything else is refused
# by name unread: a short list keeps random bytes from being taken for headerless formats (TGA)
# and keeps risky decoders (EPS runs Ghostscript) away from strangers' files.
DECODED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF", "AVIF", "GIF", "BMP", "TIFF")
# Formats Pillow cannot open at all, by their first bytes; (offset, signature, name).
_SIGNATURES = (
    (0, b"%PDF", "PDF"),
    (0, b"<svg", "SVG"),
    (0, b"\xff\x0a", "JPEG XL"),
    (0, b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (0, b"8BPS", "Photoshop"),
    (0, b"\x1a\x45\xdf\xa3", "WebM video"),
    (0, b"PK\x03\x04", "ZIP"),
    (4, b"ftypqt", "QuickTime video"),
    (4, b"ftypmp4", "MP4 video"),
    (4, b"ftypisom", "MP4 video"),
    (4, b"ftypM4V", "MP4 video"),
)
# Pillow's names for the formats of _SIGNATURES it does read but we do not decode.
_PILLOW_NAMES = {"PSD": "Photoshop", "ICNS": "Apple icon", "ICO": "icon"}


@functools.cache
def register_decoders() -> tuple[str, ...]:
    """Teach Pillow HEIC/HEIF (pillow-heif), once per process as Pillow's registry is global;
    returns the DECODED_FORMATS this Pillow has.

    AVIF needs no plugin: Pillow has decoded it itself since 11.3 (its wheels bundle libavif);
    a Pillow built without libavif simply refuses AVIF files as not images.
    """
    import pillow_heif  # imported on first use: it loads libheif

    # thumbnails=False: members' photos carry HEIF thumbnails we never need to read.
    pillow_heif.register_heif_opener(thumbnails=False)
    Image.init()
    return tuple(name for name in DECODED_FORMATS if name in Image.OPEN)


def open_allowed(data: bytes) -> Image.Image:
    """Pillow's lazy image over `data`, trying DECODED_FORMATS only; raises as Image.open does."""
    return Image.open(io.BytesIO(data), formats=register_decoders())


def format_label(data: bytes) -> str | None:
    """A name for a file we do not decode ("PDF", "Photoshop", ...), or None if unrecognised."""
    head = data[:64]
    for offset, signature, name in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return name
    if head.lstrip().startswith(b"<?xml") and b"<svg" in data[:4096]:
        return "SVG"
    try:  # header only: names what Pillow knows but we refuse (PSD, EPS, ICNS, TGA, ...)
        with Image.open(io.BytesIO(data)) as image:
            fmt = image.format
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error, EOFError):
        return None
    except Exception:  # any other header parser failure still only means "unknown"
        return None
    return _PILLOW_NAMES.get(fmt or "", fmt)


def to_8bit_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB, or RGBA when the image has transparency; 16-bit and float pixels are scaled.

    Colour profiles: CMYK is converted through its embedded profile when it has a usable one
    (Pillow's plain conversion ignores it); any other profile stays with the pixels it describes.
    """
    if image.mode in ("RGB", "RGBA"):
        return image
    if image.mode.startswith(("I", "F")):
        return _scaled_to_8bit(image).convert("RGB")
    if image.mode == "CMYK":
        return _cmyk_to_rgb(image)
    return image.convert("RGBA" if image.has_transparency_data else "RGB")


def _scaled_to_8bit(image: Image.Image) -> Image.Image:
    """Greyscale deeper than 8 bits ("I;16", "I", "F") as "L", its range mapped onto 0..255."""
    wide = image.convert("F")
    low, high = wide.getextrema()
    assert isinstance(low, float) and isinstance(high, float)
    if high <= 1.0 and image.mode == "F":
        scale = 255.0  # float images usually hold 0..1
    elif high <= 255:
        scale = 1.0
    elif high <= 65535:
        scale = 1 / 257  # 16-bit: 65535 -> 255
    else:
        scale = 255 / high
    return wide.point(lambda value: value * scale).convert("L")


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    profile = image.info.get("icc_profile")
    if profile:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            converted = ImageCms.profileToProfile(
                image, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            converted = None
        if isinstance(converted, Image.Image):
            converted.info.pop("icc_profile", None)
            return converted
    return image.convert("RGB")
