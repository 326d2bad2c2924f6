"""The fake Images API's request rules: fields, models, sizes, image parts and masks."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from bot.catalog.models import Catalog, ModelSpec
from bot.domain import BACKGROUNDS, OUTPUT_FORMATS

IMAGE_MIMES = ("image/jpeg", "image/png", "image/webp")
GEN_KEYS = frozenset(
    {"model", "prompt", "n", "size", "quality", "background", "output_format"}
    | {"output_compression", "moderation", "stream", "partial_images", "user"}
    | {"safety_identifier"}
)
EDIT_KEYS = (GEN_KEYS - {"moderation"}) | {"input_fidelity"}


class ApiError(Exception):
    """An error response in the API's envelope."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        *,
        param: str | None = None,
        type_: str = "invalid_request_error",
        retry_after: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.extra = extra or {}
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.type = type_
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
                **self.extra,
            }
        }


def invalid(param: str, message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, code, message, param=param)


@dataclass(frozen=True)
class FilePart:
    """An uploaded file part of a multipart edit."""

    name: str
    content_type: str | None
    data: bytes = field(repr=False)


@dataclass
class Call:
    """A validated images request."""

    operation: str
    spec: ModelSpec
    prompt: str
    n: int = 1
    size: str = "auto"
    quality: str = "auto"
    background: str = "auto"
    output_format: str = "png"
    stream: bool = False
    partial_images: int = 0
    input_fidelity: str | None = None
    inputs: list[tuple[int, int]] = field(default_factory=list)
    markup: bool = False  # a markup part came with the edit


def _int(params: dict[str, Any], key: str, default: int, lo: int, hi: int, form: bool) -> int:
    value = params.get(key, default)
    if form and isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise invalid(
                key, f"Invalid type for '{key}': expected an integer.", "invalid_type"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(key, f"Invalid type for '{key}': expected an integer.", "invalid_type")
    if not lo <= value <= hi:
        raise invalid(key, f"Invalid '{key}': {value} is not between {lo} and {hi}.")
    return value


def _bool(params: dict[str, Any], key: str, form: bool) -> bool:
    value = params.get(key, False)
    if form and value in ("true", "false"):
        return bool(value == "true")
    if not isinstance(value, bool):
        raise invalid(key, f"Invalid type for '{key}': expected a boolean.", "invalid_type")
    return value


def _choice(params: dict[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = params.get(key, default)
    if value not in allowed:
        listed = ", ".join(f"'{a}'" for a in allowed)
        raise invalid(key, f"Invalid value: '{value}'. Supported values are: {listed}.")
    return str(value)


def find_spec(catalog: Catalog, params: dict[str, Any], retired: set[str]) -> ModelSpec:
    """The model's spec, or the API's 404 model_not_found."""
    model = params.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model", "Missing required parameter: 'model'.", "missing_required_parameter")
    spec = None
    if model not in retired:
        try:
            spec = catalog.get(model)
        except Exception:  # the catalog's own "unknown model" error
            spec = None
    if spec is None:
        raise ApiError(
            404,
            "model_not_found",
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model",
        )
    return spec


def validate(operation: str, params: dict[str, Any], spec: ModelSpec, *, form: bool) -> Call:
    """Check fields as the real API does; ApiError names the first bad `param`."""
    allowed = EDIT_KEYS if operation == "edit" else GEN_KEYS
    for key, value in params.items():
        if key not in allowed:
            raise invalid(key, f"Unknown parameter: '{key}'.", "unknown_parameter")
        if form and value == "":
            raise invalid(key, f"Invalid value for '{key}': empty string.")
    prompt = params.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise invalid(
            "prompt", "Missing required parameter: 'prompt'.", "missing_required_parameter"
        )
    if len(prompt) > spec.max_prompt_chars:
        raise invalid(
            "prompt",
            f"Invalid 'prompt': string too long. Expected a maximum length of "
            f"{spec.max_prompt_chars}, but got {len(prompt)} instead.",
            "string_above_max_length",
        )
    call = Call(operation=operation, spec=spec, prompt=prompt)
    call.n = _int(params, "n", 1, 1, spec.max_n, form)
    call.size = _size(params, spec)
    call.quality = _choice(params, "quality", tuple(spec.qualities), "auto")
    call.output_format = _choice(params, "output_format", OUTPUT_FORMATS, "png")
    call.background = _background(params, spec, call.output_format)
    if "output_compression" in params:
        _int(params, "output_compression", 100, 0, 100, form)
    if "moderation" in params:
        _choice(params, "moderation", ("auto", "low"), "auto")
    call.stream = _bool(params, "stream", form)
    call.partial_images = _int(params, "partial_images", 0, 0, 3, form)
    if "input_fidelity" in params:
        if not spec.input_fidelity:
            raise invalid(
                "input_fidelity", f"input_fidelity is not supported for model '{spec.name}'."
            )
        call.input_fidelity = _choice(params, "input_fidelity", ("low", "high"), "low")
    return call


def _size(params: dict[str, Any], spec: ModelSpec) -> str:
    size = params.get("size", "auto")
    if not isinstance(size, str):
        raise invalid("size", "Invalid type for 'size': expected a string.", "invalid_type")
    if size == "auto" or size in spec.sizes:
        return size
    try:
        spec.validate_size(size)
    except Exception:
        listed = ", ".join(f"'{s}'" for s in spec.sizes)
        raise invalid("size", f"Invalid value: '{size}'. Supported values are: {listed}.") from None
    return size


def _background(params: dict[str, Any], spec: ModelSpec, output_format: str) -> str:
    background = _choice(params, "background", BACKGROUNDS, "auto")
    if background == "transparent":
        if not spec.transparent_background:
            raise invalid(
                "background", f"Transparent background is not supported for '{spec.name}'."
            )
        if output_format == "jpeg":
            raise invalid(
                "background",
                "Transparent background requires output_format 'png' or 'webp'.",
            )
    return background


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


def check_edit_files(call: Call, images: list[FilePart], mask: FilePart | None) -> None:
    """Image parts (1..max) and the optional mask, which must match the first image."""
    if not images:
        raise invalid("image", "Missing required parameter: 'image'.", "missing_required_parameter")
    if len(images) > call.spec.max_input_images:
        raise invalid(
            "image", f"Too many images: at most {call.spec.max_input_images} are allowed."
        )
    call.inputs = [check_image_part(part, i) for i, part in enumerate(images, start=1)]
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


# `markup` on edits (openai 3.63.0 types/image_edit_params.py): "A transparent PNG overlaid on the
# first image to guide the edit. Must match that image's dimensions ... Supports GPT Image 2.5.
# Cannot be combined with mask." Third parties attribute it to 2.6 as well.
MARKUP_MODELS = (
    "gpt-image-2.5-flare",
    "gpt-image-2.5-sunburst",
    "gpt-image-2.6-flare",
    "gpt-image-2.6-sunburst",
)


def check_markup(call: Call, markup: FilePart, *, has_mask: bool) -> None:
    """The markup part: a model that takes it, no mask, a PNG of the first image's size."""
    if call.spec.name not in MARKUP_MODELS:
        raise invalid("markup", f"markup is not supported for model '{call.spec.name}'.")
    if has_mask:
        raise invalid("markup", "markup cannot be combined with mask.")
    size = check_image_part(markup, 0)
    with Image.open(io.BytesIO(markup.data)) as img:
        is_png = img.format == "PNG"
    if not is_png:
        raise invalid("markup", "Invalid markup image: the markup must be a PNG.")
    if size != call.inputs[0]:
        raise invalid(
            "markup",
            f"Invalid markup image: the markup ({size[0]}x{size[1]}) must have the same "
            f"dimensions as the image ({call.inputs[0][0]}x{call.inputs[0][1]}).",
        )
    call.markup = True
    call.inputs.append(size)  # billed as one more input image (upper bound; undocumented)
