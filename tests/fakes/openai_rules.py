"""The fake Images API's request rules: fields, models, sizes, image parts, masks and markup.

The rules come from tests/fakes/openai_models.py (OpenAI's documentation), never the bot's
catalog, so a wrong catalog entry meets a fake that disagrees with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.fakes.openai_models import (
    BACKGROUNDS,
    COMPLEXITIES,
    MODELS,
    OUTPUT_FORMATS,
    FakeModel,
)

GEN_KEYS = frozenset(
    {"model", "prompt", "n", "size", "quality", "background", "output_format"}
    | {"output_compression", "moderation", "stream", "partial_images", "user"}
    # December 2026 fields: https://pypi.org/project/openai/ 3.63.0 image_generate_params.py
    | {"safety_identifier", "complexity"}
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
        self.extra = extra or {}  # more fields of the error object (e.g. moderation_stage)
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


@dataclass
class Call:
    """A validated images request."""

    operation: str
    model: FakeModel
    prompt: str
    n: int = 1
    size: str = "auto"
    quality: str = "auto"
    background: str = "auto"
    output_format: str = "png"
    stream: bool = False
    partial_images: int = 0
    input_fidelity: str | None = None
    complexity: str | None = None
    # `safety_identifier`, else the deprecated `user` (still honoured when the new one is empty;
    # openai 3.63.0 image_generate_params.py); the response echoes it.
    safety_identifier: str | None = None
    inputs: list[tuple[int, int]] = field(default_factory=list)


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


def find_model(params: dict[str, Any], unavailable: set[str]) -> FakeModel:
    """The model's rules, or the API's 404 model_not_found."""
    name = params.get("model")
    if not isinstance(name, str) or not name:
        raise invalid("model", "Missing required parameter: 'model'.", "missing_required_parameter")
    model = None if name in unavailable else MODELS.get(name)
    if model is None:
        raise ApiError(
            404,
            "model_not_found",
            f"The model `{name}` does not exist or you do not have access to it.",
            param="model",
        )
    return model


def validate(operation: str, params: dict[str, Any], spec: FakeModel, *, form: bool) -> Call:
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
    call = Call(operation=operation, model=spec, prompt=prompt)
    call.n = _int(params, "n", 1, 1, spec.max_n, form)
    call.size = _size(params, spec)
    call.quality = _choice(params, "quality", (*spec.qualities, "auto"), "auto")
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
    call.complexity = _complexity(params, spec)
    call.safety_identifier = _safety_identifier(params)
    return call


def _complexity(params: dict[str, Any], spec: FakeModel) -> str | None:
    """`complexity` is a GPT Image 2.6 field (openai 3.63.0); the fake refuses it elsewhere."""
    if "complexity" not in params:
        return None
    if not spec.complexity:
        raise invalid("complexity", f"complexity is not supported for model '{spec.name}'.")
    return _choice(params, "complexity", COMPLEXITIES, "high")


def _safety_identifier(params: dict[str, Any]) -> str | None:
    for key in ("safety_identifier", "user"):
        value = params.get(key)
        if value is not None and not isinstance(value, str):
            raise invalid(key, f"Invalid type for '{key}': expected a string.", "invalid_type")
        if value:
            return str(value)
    return None


def _size(params: dict[str, Any], spec: FakeModel) -> str:
    size = params.get("size", "auto")
    if not isinstance(size, str):
        raise invalid("size", "Invalid type for 'size': expected a string.", "invalid_type")
    if size == "auto" or spec.takes_size(size):
        return size
    listed = ", ".join(f"'{s}'" for s in (*spec.sizes, "auto"))
    raise invalid("size", f"Invalid value: '{size}'. Supported values are: {listed}.")


def _background(params: dict[str, Any], spec: FakeModel, output_format: str) -> str:
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
