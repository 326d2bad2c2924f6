"""The Images API wire format: request bodies, `usage` parsing, results and SSE events."""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from bot.choices import OPTIONS
from bot.domain import ImageRequest, ImagesResult, InputImage, TokenUsage

EXT_BY_MIME = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}

FormFile = tuple[str, tuple[str, bytes, str]]


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One server-sent event: its `event:` name (may be empty) and its decoded `data:` JSON."""

    event: str
    data: dict[str, Any]


class MalformedResponseError(ValueError):
    """A 2xx body we cannot use; the client turns it into UpstreamUnavailableError."""


def generation_body(request: ImageRequest, *, stream: bool) -> dict[str, Any]:
    """The JSON body of POST /images/generations. Never `response_format` (400 on GPT Image)."""
    body = _common_fields(request, stream=stream)
    if request.options.moderation != "auto":
        body["moderation"] = request.options.moderation
    return body


def edit_form(request: ImageRequest, *, stream: bool) -> tuple[dict[str, str], list[FormFile]]:
    """Plain form fields and file parts of POST /images/edits (multipart).

    Every file part gets an explicit filename and image mimetype: without one httpx falls back to
    application/octet-stream, which the API rejects. One input image goes as `image`, several as
    `image[]` parts, as the official SDK sends them (docs/sources.md#multipart): some
    OpenAI-compatible gateways refuse a lone `image[]`. `moderation` is not sent: the multipart
    edit schema does not have it.
    """
    fields = {k: _form_value(v) for k, v in _common_fields(request, stream=stream).items()}
    name = "image" if len(request.images) == 1 else "image[]"
    files: list[FormFile] = [
        (name, (f"image{i}.{_ext(img)}", img.data, img.mime))
        for i, img in enumerate(request.images, start=1)
    ]
    if request.mask is not None:
        files.append(("mask", (f"mask.{_ext(request.mask)}", request.mask.data, request.mask.mime)))
    if request.markup is not None:  # `markup` on edits (openai 3.63.0 image_edit_params.py)
        mark = request.markup
        files.append(("markup", (f"markup.{_ext(mark)}", mark.data, mark.mime)))
    return fields, files


def _common_fields(request: ImageRequest, *, stream: bool) -> dict[str, Any]:
    """The prompt and every member option that has an API field (bot/choices.py OPTIONS).

    Sent explicitly even when they equal a default: the two endpoints' defaults differ (edits
    default to 1024x1024) and gateways may differ again. An option left to the API's default
    (None) is not sent, nor an edit-only one on a generation.
    """
    opts = request.options
    body: dict[str, Any] = {"prompt": request.prompt}
    for spec in OPTIONS:
        if spec.api is None or (spec.edit_only and request.operation != "edit"):
            continue
        if (value := getattr(opts, spec.field)) is not None:
            body[spec.api] = value
    if stream:
        body["stream"] = True
        body["partial_images"] = opts.partial_images
    if request.safety_identifier:
        # `user` is deprecated for `safety_identifier` on both image endpoints (openai 3.63.0,
        # https://github.com/openai/openai-python types/image_generate_params.py); never both.
        body["safety_identifier"] = request.safety_identifier
    return body


def _form_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ext(image: InputImage) -> str:
    return EXT_BY_MIME.get(image.mime, "png")


def _int(mapping: Mapping[str, Any] | None, key: str) -> int | None:
    if not isinstance(mapping, Mapping):
        return None
    value = mapping.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return max(0, value)


def _mapping(parent: Mapping[str, Any] | None, key: str) -> Mapping[str, Any] | None:
    value = parent.get(key) if isinstance(parent, Mapping) else None
    return value if isinstance(value, Mapping) else None


def parse_usage(usage: object) -> TokenUsage:
    """`usage` -> TokenUsage; missing details fall back as documented (defensive parsing)."""
    if not isinstance(usage, Mapping):
        return TokenUsage()
    in_details = _mapping(usage, "input_tokens_details")
    text_in = _int(in_details, "text_tokens")
    image_in = _int(in_details, "image_tokens") or 0
    if text_in is None:  # no split given: whatever is not image input is text input
        text_in = max(0, (_int(usage, "input_tokens") or 0) - image_in)
    cached_text, cached_image = _parse_cached(usage, in_details, text_in, image_in)
    out_details = _mapping(usage, "output_tokens_details")
    output = _int(usage, "output_tokens") or 0
    text_out = _int(out_details, "text_tokens") or 0
    image_out = _int(out_details, "image_tokens")
    if image_out is None:  # streaming usage and older models: all output tokens are image tokens
        image_out = max(0, output - text_out)
    return TokenUsage(
        text_input=text_in,
        cached_text_input=cached_text,
        image_input=image_in,
        cached_image_input=cached_image,
        image_output=image_out,
        text_output=text_out,
    )


def _parse_cached(
    usage: Mapping[str, Any], in_details: Mapping[str, Any] | None, text_in: int, image_in: int
) -> tuple[int, int]:
    split = _mapping(in_details, "cached_tokens_details") or _mapping(
        usage, "cached_tokens_details"
    )
    if split is not None:
        text = _int(split, "text_tokens") or 0
        image = _int(split, "image_tokens") or 0
        return min(text, text_in), min(image, image_in)
    total = _int(in_details, "cached_tokens") or 0
    text = min(total, text_in)  # only a total: text first, then image
    return text, min(total - text, image_in)


def decode_b64(value: object, what: str) -> bytes:
    """Base64 image bytes, or MalformedResponseError."""
    if not isinstance(value, str) or not value:
        raise MalformedResponseError(f"{what} has no b64_json")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedResponseError(f"{what} is not valid base64") from exc


def image_size(data: bytes) -> str | None:
    """WxH read from the image header (Pillow reads no pixels here), or None."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    return f"{width}x{height}"


def build_result(
    payload: Mapping[str, Any],
    images: tuple[bytes, ...],
    request: ImageRequest,
    *,
    request_id: str | None,
    latency_ms: int,
    status: int,
    partials: int = 0,
) -> ImagesResult:
    """Resolved settings come from the response; the request's values are the fallback."""
    opts = request.options

    def resolved(key: str, requested: str) -> str:
        value = payload.get(key)
        return value if isinstance(value, str) and value and value != "auto" else requested

    usage = parse_usage(payload.get("usage"))
    size = resolved("size", opts.size)
    if size == "auto" and images:  # streamed events echo the requested "auto"; ask the image
        size = image_size(images[0]) or size
    return ImagesResult(
        images=images,
        size=size,
        quality=resolved("quality", opts.quality),
        output_format=resolved("output_format", opts.output_format),
        background=resolved("background", opts.background),
        usage=usage,
        request_id=request_id,
        latency_ms=latency_ms,
        http_status=status,
        partial_images=partials,
        # An image always has output tokens: no `usage`, or one of zeros, tells us nothing.
        usage_reported=usage.output_total > 0,
    )


def parse_images_body(body: bytes) -> tuple[dict[str, Any], tuple[bytes, ...]]:
    """A non-streamed ImagesResponse: the JSON object and its decoded images."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedResponseError("body is not JSON") from exc
    if not isinstance(payload, dict):
        raise MalformedResponseError("body is not a JSON object")
    data = payload.get("data")
    if not isinstance(data, list) or not data:
        raise MalformedResponseError("no image data")
    images = tuple(
        decode_b64(item.get("b64_json") if isinstance(item, dict) else None, f"image {i}")
        for i, item in enumerate(data)
    )
    return payload, images


async def iter_sse(lines: AsyncIterator[str]) -> AsyncIterator[SseEvent | None]:
    """Events from `event:`/`data:` lines; yields None for a `[DONE]` terminator."""
    event, data = "", []
    async for raw in lines:
        line = raw.rstrip("\r")
        if line:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
            continue  # comments (": ping"), id: and retry: lines are ignored
        if data:
            yield _sse_event(event, "\n".join(data))
        event, data = "", []
    if data:
        yield _sse_event(event, "\n".join(data))


def stream_error(event: SseEvent) -> object | None:
    """The error object of an error event, or None for any other event.

    Three shapes are recognised: openai-python's check (any `data` with an `error` key, see
    https://github.com/openai/openai-python/blob/main/src/openai/_streaming.py), and the spec's
    error event, `event: error` or `"type": "error"` with the error's fields flat in `data`
    (https://github.com/openai/openai-openapi, `ResponseErrorEvent`).
    """
    nested: object = event.data.get("error")
    if nested:
        return nested
    if event.event == "error" or event.data.get("type") == "error":
        return {k: v for k, v in event.data.items() if k not in ("type", "sequence_number")}
    return None


def _sse_event(event: str, text: str) -> SseEvent | None:
    if text.strip() == "[DONE]":
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MalformedResponseError("stream event is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedResponseError("stream event is not a JSON object")
    return SseEvent(event=event or str(data.get("type", "")), data=data)
