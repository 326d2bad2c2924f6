"""The fake Images API's edit files: image parts, the mask and markup (mimetype, size, alpha)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image

from tests.fakes.openai_rules import Call, invalid

IMAGE_MIMES = (
    "image/jpeg",
    "image/png",
    "image/webp",
)  # https://github.com/openai/openai-openapi CreateImageEditRequest.image


@dataclass(frozen=True)
class FilePart:
    """An uploaded file part of a multipart edit."""

    name: str
    content_type: str | None
    data: bytes = field(repr=False)


def check_image_part(part: FilePart, index: int) -> tuple[int, int]:
    """A file part's mimetype and decodability; returns its (width, height)."""
    label = "image" if part.name.startswith("image") else part.name
    if not part.content_type:
        raise invalid(
            label,
            f"Invalid file '{label}': failed to determine mimetype. Supported file formats "
            "are 'image/jpeg', 'image/png', and 'image/webp'.",
            "missing_file_mimetype",
        )
    if part.content_type not in IMAGE_MIMES:
        raise invalid(
            label,
            f"Invalid file '{label}': unsupported mimetype ('{part.content_type}'). Supported "
            "file formats are 'image/jpeg', 'image/png', and 'image/webp'.",
            "unsupported_file_mimetype",
        )
    try:
        if has_mpf_segment(part.data):  # reported: camera multi-picture JPEGs fail every time
            raise ValueError("multi-picture JPEG")
        with Image.open(io.BytesIO(part.data)) as img:
            img.load()
            return img.size
    except Exception:
        raise invalid(
            label,
            f"Invalid image file or mode for image {index}, please check your image file.",
            "invalid_image_file",
        ) from None


def has_mpf_segment(data: bytes) -> bool:
    """True for a JPEG with an APP2 "MPF" segment (MPO, "Ultra HDR"), found by walking markers."""
    if not data.startswith(b"\xff\xd8"):
        return False
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: no more header segments
            return False
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xE2 and data[pos + 4 : pos + 8] == b"MPF\x00":
            return True
        pos += 2 + length
    return False


def check_edit_files(
    call: Call, images: list[FilePart], mask: FilePart | None, markup: FilePart | None = None
) -> None:
    """Image parts (1..max), then the optional mask or markup, each matching the first image."""
    if not images:
        raise invalid("image", "Missing required parameter: 'image'.", "missing_required_parameter")
    if len(images) > call.model.max_input_images:
        raise invalid(
            "image", f"Too many images: at most {call.model.max_input_images} are allowed."
        )
    call.inputs = [check_image_part(part, i) for i, part in enumerate(images, start=1)]
    if markup is not None:
        check_markup(call, markup, mask)
    if mask is None:
        return
    size = check_image_part(mask, 0)
    with Image.open(io.BytesIO(mask.data)) as img:
        has_alpha = "A" in img.getbands() or "transparency" in img.info
        is_png = img.format == "PNG"
    if not is_png or not has_alpha:
        raise invalid("mask", "Invalid mask image: the mask must be a PNG with an alpha channel.")
    if size != call.inputs[0]:
        raise invalid(
            "mask",
            f"Invalid mask image: the mask ({size[0]}x{size[1]}) must have the same dimensions "
            f"as the image ({call.inputs[0][0]}x{call.inputs[0][1]}).",
        )


def check_markup(call: Call, markup: FilePart, mask: FilePart | None) -> None:
    """`markup`: "A transparent PNG overlaid on the first image to guide the edit. Must match
    that image's dimensions ... Cannot be combined with mask." (openai 3.63.0,
    https://pypi.org/project/openai/ image_edit_params.py); only models that take it."""
    if not call.model.markup:
        raise invalid("markup", f"markup is not supported for model '{call.model.name}'.")
    if mask is not None:
        raise invalid("markup", "Invalid 'markup': markup cannot be combined with mask.")
    size = check_image_part(markup, 0)
    with Image.open(io.BytesIO(markup.data)) as img:
        if img.format != "PNG" or not ("A" in img.getbands() or "transparency" in img.info):
            raise invalid("markup", "Invalid 'markup': expected a transparent PNG.")
    if size != call.inputs[0]:
        raise invalid(
            "markup",
            f"Invalid 'markup': the markup ({size[0]}x{size[1]}) must have the same dimensions "
            f"as the image ({call.inputs[0][0]}x{call.inputs[0][1]}).",
        )
