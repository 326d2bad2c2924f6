"""Pillow helpers: check and prepare edit inputs for the Images API, read image headers."""

from __future__ import annotations

import io
import struct
from typing import Any

from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from bot.domain import MIME_BY_FORMAT, InputImage
from bot.errors import InvalidImageError
from bot.imaging.formats import format_label, open_allowed, to_8bit_rgb

# The Images API takes png, webp or jpg inputs "< 50 MB" each; 50 * 10**6 is under the limit
# whether the API means MB or MiB.
API_MAX_INPUT_BYTES = 50_000_000
# The largest output gpt-image-2 makes is 8,294,400 px (3840x2160); four times that leaves room
# for big photos while a decoded RGBA frame stays under ~130 MB of memory.
MAX_INPUT_PIXELS = 4 * 8_294_400
# The API scales inputs to fit 2048x2048 when it counts their tokens
# (docs/sources.md#input-image-tokens), so pixels past 4096 only cost upload time and memory;
# 4096 keeps a 2x margin.
MAX_INPUT_SIDE = 4096
# A JPEG up to DRAFT_FACTOR times MAX_INPUT_PIXELS' sides is decoded reduced (decode_within).
DRAFT_FACTOR = 8
_REDUCIBLE = ("JPEG", "MPO")
# What we are willing to download and decode at all; the caller checks `attachment.size`
# against it before downloading. Above the API limit because conversions (BMP, TIFF) shrink.
MAX_SOURCE_BYTES = 64 * 1024 * 1024
# WebP cannot encode a side longer than this.
WEBP_MAX_SIDE = 16383

NOT_AN_IMAGE = "this file is not an image"
TRUNCATED = "the image is truncated"
DAMAGED = "the image is damaged and cannot be read"

# The API's formats (Pillow's names); MPO, a camera JPEG with a second picture, is re-encoded.
_API_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp"}
# Photo formats whose re-encoding is JPEG (unless transparent); the rest become PNG.
_PHOTO_FORMATS = {"JPEG", "MPO", "HEIF", "AVIF"}
# The exceptions Pillow's decoders raise on malformed data (seen in its fuzzing reports).
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    KeyError,
    ZeroDivisionError,
    struct.error,
    # Pillow's AVIF plugin reports a damaged file as RuntimeError ("Failed to decode image:
    # Missing or empty image item"), found by tests/unit/imaging/test_convert_fuzz.py.
    RuntimeError,
)
# File signatures, so a cut-off header says "truncated" rather than "not an image".
_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")
_PNG_8BIT_RGB = (8, 2)  # IHDR bit depth, colour type: RGB
_PNG_8BIT_RGBA = (8, 6)  # RGBA
_ORIENTATION = ExifTags.Base.Orientation


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:.0f} megapixels"


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def too_large(size: tuple[int, int] | None, max_pixels: int | None) -> str:
    """The refusal reason for an image with too many pixels."""
    dims = f" ({size[0]}x{size[1]})" if size else ""
    most = f"; the most is {_megapixels(max_pixels)}" if max_pixels else ""
    return f"the image is too large{dims}{most}"


def check_file_size(data: bytes, filename: str, max_bytes: int) -> None:
    """Refuse a file bigger than `max_bytes` before touching its contents."""
    if len(data) > max_bytes:
        reason = (
            f"the file is too big ({_megabytes(len(data))}); the most is {_megabytes(max_bytes)}"
        )
        raise InvalidImageError(filename, reason)


def open_image(
    data: bytes, filename: str, max_pixels: int | None, *, reducible: bool = False
) -> ImageFile.ImageFile:
    """Read only the header; refuse non-images, formats we do not decode and too many pixels
    (`reducible`: a JPEG may have more, then decode_within decodes it reduced).

    No pixel is decoded here, so a 30000x30000 bomb costs a few microseconds. Pillow's own
    bomb check (DecompressionBombError, or the warning when warnings are errors) is a refusal too;
    we never change Pillow's global MAX_IMAGE_PIXELS because other code shares it.
    """
    try:
        image = open_allowed(data)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImageError(filename, too_large(None, max_pixels)) from None
    except UnidentifiedImageError:
        raise InvalidImageError(filename, _unreadable(data)) from None
    except (*_DECODE_ERRORS, MemoryError):
        raise InvalidImageError(filename, DAMAGED) from None
    assert isinstance(image, ImageFile.ImageFile)  # every plugin's image is one
    width, height = image.size
    if width < 1 or height < 1:
        image.close()
        raise InvalidImageError(filename, f"the image has no pixels ({width}x{height})")
    limit = max_pixels
    if limit is not None and reducible and image.format in _REDUCIBLE:
        limit *= DRAFT_FACTOR**2
    if limit is not None and width * height > limit:
        image.close()
        raise InvalidImageError(filename, too_large(image.size, max_pixels))
    return image


def decode_within(image: ImageFile.ImageFile, filename: str, max_pixels: int) -> bool:
    """Have a JPEG over `max_pixels` (a 48 or 50 megapixel phone photo) decoded at a half, a
    quarter or an eighth of its size, which JPEG decoders do at a fraction of the cost
    (Pillow's draft()); refuse any other image over `max_pixels`. True when reduced."""
    width, height = image.size
    if width * height <= max_pixels:
        return False
    if image.format not in _REDUCIBLE:
        image.close()
        raise InvalidImageError(filename, too_large(image.size, max_pixels))
    scale = 2
    while width * height > max_pixels * scale * scale:
        scale *= 2
    image.draft("RGB" if image.mode == "RGB" else None, (-(-width // scale), -(-height // scale)))
    return True


def _unreadable(data: bytes) -> str:
    """Why a file no decoder took is refused: a named format, a cut-off image, or not an image."""
    label = format_label(data)
    if label is not None:
        return f"{label} files are not supported"
    return TRUNCATED if data.startswith(_MAGIC) else NOT_AN_IMAGE


def load_image(image: ImageFile.ImageFile, filename: str) -> None:
    """Decode every pixel of the current frame, so a truncated or corrupt file is refused now."""
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError):
        raise InvalidImageError(filename, too_large(None, None)) from None
    except _DECODE_ERRORS as error:
        reason = TRUNCATED if "truncated" in str(error) else DAMAGED
        raise InvalidImageError(filename, reason) from None


def orientation(image: Image.Image) -> int:
    """The EXIF orientation tag; 1 (upright) when absent."""
    value = image.getexif().get(_ORIENTATION, 1)
    return value if isinstance(value, int) else 0


def upright(image: Image.Image) -> Image.Image:
    """A copy of the current frame with its EXIF orientation applied (and the tag removed)."""
    turned = ImageOps.exif_transpose(image)
    return turned if turned is not None else image.copy()


def min_alpha(image: Image.Image) -> int:
    """The lowest alpha value of any pixel: 0 if something is fully transparent, 255 if none is."""
    if not image.has_transparency_data:
        return 255
    low = image.convert("RGBA").getchannel("A").getextrema()[0]
    return int(low) if isinstance(low, int | float) else 255


def has_alpha(image: Image.Image) -> bool:
    """True when some pixel is not fully opaque (an all-opaque alpha band does not count)."""
    return min_alpha(image) < 255


def downscaled(image: Image.Image, max_side: int) -> Image.Image:
    """The image scaled so its longest side is at most `max_side`, aspect ratio kept."""
    if max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    """The image saved in Pillow format `fmt` ("PNG", "JPEG", "WEBP")."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def format_name(image: Image.Image) -> str:
    """Pillow's format in lower case, with camera JPEGs (MPO) reported as "jpeg"."""
    fmt = image.format or "unknown"
    return _API_FORMATS.get(fmt, fmt.lower())


def image_info(data: bytes, *, filename: str = "image") -> tuple[str, int, int]:
    """Format (lower case: "png", "jpeg", "webp", "gif", ...), width and height, from the header.

    Raises InvalidImageError for non-images and for Pillow's decompression-bomb sizes.
    """
    with open_image(data, filename, None) as image:
        return format_name(image), image.width, image.height


def prepare_input(
    data: bytes,
    *,
    filename: str,
    max_pixels: int = MAX_INPUT_PIXELS,
    max_bytes: int = MAX_SOURCE_BYTES,
) -> InputImage:
    """An attachment made ready for /images/edits, or InvalidImageError saying why not.

    The API gets 8-bit RGB or RGBA PNG, JPEG or WebP, one frame, upright, at most MAX_INPUT_SIDE
    on its longest side and under its byte limit. A file that already is all that goes as it is;
    anything else is re-encoded: multi-picture JPEGs (MPO, "Ultra HDR": the edits endpoint is
    reported to refuse their MPF segment with invalid_image_file), HEIC/HEIF and AVIF photos
    (as JPEG, or PNG when transparent), 16-bit, CMYK, palette and greyscale images, and the first
    frame of animations (GIF, BMP, TIFF and the rest become PNG).
    """
    check_file_size(data, filename, max_bytes)
    with open_image(data, filename, max_pixels, reducible=True) as image:
        reduced = decode_within(image, filename, max_pixels)
        load_image(image, filename)
        try:
            if not reduced and sendable_as_is(image, data):
                fmt = _API_FORMATS[image.format or ""]
                return InputImage(data, MIME_BY_FORMAT[fmt], image.width, image.height)
            return _reencoded_input(image, _target_format(image), len(data))
        except MemoryError:
            raise InvalidImageError(filename, too_large(image.size, max_pixels)) from None
        except _DECODE_ERRORS:  # a frame or profile Pillow chokes on while converting
            raise InvalidImageError(filename, DAMAGED) from None


def sendable_as_is(image: Image.Image, data: bytes) -> bool:
    """True when the file's own bytes are what the API takes: no conversion needed."""
    fmt = image.format or ""
    if fmt not in ("PNG", "JPEG", "WEBP") or "mp" in image.info:  # "mp": an MPF segment
        return False
    if getattr(image, "n_frames", 1) != 1 or image.mode not in ("RGB", "RGBA"):
        return False
    if fmt == "PNG" and (_png_depth_and_type(data) not in (_PNG_8BIT_RGB, _PNG_8BIT_RGBA)):
        return False  # Pillow reads 16-bit RGB(A) PNGs as 8-bit modes; the file is not 8-bit
    if "transparency" in image.info:  # a colour key, not an alpha channel
        return False
    if carries_metadata(image, data):  # the member's location, camera, an embedded video...
        return False
    return (
        orientation(image) == 1
        and max(image.size) <= MAX_INPUT_SIDE
        and len(data) < API_MAX_INPUT_BYTES
    )


# What an image's info may hold besides metadata: how to show the pixels, nothing about the member.
_PIXEL_INFO = frozenset({"dpi", "gamma", "srgb", "icc_profile", "chromaticity", "aspect",
                         "jfif", "jfif_version", "jfif_unit", "jfif_density", "progressive",
                         "progression", "adobe", "adobe_transform", "loop", "duration", "timestamp",
                         "background", "interlace", "transparency"})  # fmt: skip
# JPEG segments that carry metadata: APP1 (Exif, XMP: GPS, camera, Motion Photo's video
# offset), APP13 (Photoshop's IPTC) and comments.
_JPEG_METADATA_MARKERS = frozenset({"APP1", "APP13", "COM"})
_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND\xaeB`\x82"


def carries_metadata(image: Image.Image, data: bytes) -> bool:
    """Whether the file holds anything besides its pixels and how to show them: EXIF (GPS),
    XMP, text chunks, comments, or bytes after the image's end (a Motion Photo's video, https://
    developer.android.com/media/platform/motion-photo-format, is appended after the JPEG)."""
    if set(image.info) - _PIXEL_INFO:
        return True
    if image.format == "JPEG":
        markers = {marker for marker, _ in getattr(image, "applist", [])}
        return bool(markers & _JPEG_METADATA_MARKERS) or not data.endswith(_JPEG_END)
    if image.format == "PNG":
        return not data.endswith(_PNG_END)
    return False


def _png_depth_and_type(data: bytes) -> tuple[int, int] | None:
    """The IHDR bit depth and colour type of a PNG (bytes 24 and 25 of every valid PNG)."""
    return (data[24], data[25]) if len(data) > 25 and data[12:16] == b"IHDR" else None


def _target_format(image: Image.Image) -> str:
    """A re-encoded input's format: WebP stays WebP, photos JPEG unless transparent, else PNG."""
    fmt = image.format or ""
    if fmt == "WEBP":
        return "webp"
    if fmt in _PHOTO_FORMATS and not image.has_transparency_data:
        return "jpeg"
    return "png"


def _reencoded_input(image: Image.Image, target: str, source_bytes: int) -> InputImage:
    """Upright, 8-bit RGB(A), at most MAX_INPUT_SIDE, in `target` format, under the byte limit."""
    frame = upright(image)
    prepared = downscaled(to_8bit_rgb(frame), MAX_INPUT_SIDE)
    # A colour profile only still describes the pixels when the mode did not change.
    icc = frame.info.get("icc_profile") if prepared.mode == frame.mode else None
    params: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if target == "png":
        data = encode(prepared, "PNG", **params)
    elif target == "jpeg":
        data = encode(prepared.convert("RGB"), "JPEG", quality=95, **params)
    else:  # WebP keeps alpha
        data = encode(prepared, "WEBP", quality=95, **params)
    if len(data) >= API_MAX_INPUT_BYTES:
        lossless = source_bytes < API_MAX_INPUT_BYTES * 3 // 2
        data, target, prepared = shrink_to_fit(prepared, API_MAX_INPUT_BYTES - 1, lossless)
    return InputImage(data, MIME_BY_FORMAT[target], prepared.width, prepared.height)


# Lossy WebP steps for images with transparency, best first: (quality, alpha_quality). An
# alpha_quality under 100 lets WebP quantise the alpha plane, which noise-like alpha needs.
_ALPHA_STEPS = ((90, 100), (75, 85), (50, 60))
# JPEG qualities for opaque images: JPEG rather than WebP so members can reuse the file anywhere.
_OPAQUE_STEPS = (92, 85, 75, 60)
# Each downscale keeps 80% of each side (64% of the pixels), so few rounds are ever needed.
_DOWNSCALE = 0.8


def _steps(transparent: bool, lossless: bool) -> list[tuple[str, dict[str, Any]]]:
    if not transparent:
        return [("jpeg", {"quality": q, "optimize": True}) for q in _OPAQUE_STEPS]
    # Lossless effort 50 of 100: near-best size at a fraction of the time.
    steps = [("webp", {"lossless": True, "quality": 50})] if lossless else []
    steps += [("webp", {"quality": q, "alpha_quality": a}) for q, a in _ALPHA_STEPS]
    return steps


def shrink_to_fit(
    image: Image.Image, limit_bytes: int, try_lossless: bool = False
) -> tuple[bytes, str, Image.Image]:
    """Re-encode (then downscale step by step) until the file is at most `limit_bytes`.

    Transparency is kept (WebP, lossless first when `try_lossless`); opaque images become JPEG.
    Returns the bytes, their format ("webp" or "jpeg") and the image that was encoded.
    """
    current = downscaled(image, WEBP_MAX_SIDE)
    transparent = has_alpha(current)
    if transparent or current.mode != "L":
        current = current.convert("RGBA" if transparent else "RGB")
    lossless = try_lossless and transparent
    while True:
        for fmt, params in _steps(transparent, lossless):
            data = encode(current, fmt.upper(), **params)
            if len(data) <= limit_bytes:
                return data, fmt, current
        if current.size == (1, 1):
            raise ValueError(f"no encoding of one pixel fits in {limit_bytes} bytes")
        size = (max(1, int(current.width * _DOWNSCALE)), max(1, int(current.height * _DOWNSCALE)))
        current = current.resize(size, Image.Resampling.LANCZOS)
        lossless = False
