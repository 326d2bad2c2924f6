"""What the fake Images API answers: synthetic images, `usage` from the token tables, SSE."""

from __future__ import annotations

import base64
import io
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from PIL import Image

from tests.fakes.openai_models import FakeModel
from tests.fakes.openai_rules import Call

PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


@dataclass(frozen=True)
class Look:
    """The fake's knobs that shape answers: what `auto` quality becomes, noise images, and
    whether `usage` is sent (some OpenAI-compatible gateways drop it)."""

    auto_quality: str = "medium"
    noise: bool = False
    usage: bool = True


def resolved_size(call: Call) -> str:
    """`auto` becomes 1024x1024, or the first input's orientation for edits."""
    if call.size != "auto":
        return call.size
    if call.inputs:
        width, height = call.inputs[0]
        if width > height:
            return "1536x1024"
        if height > width:
            return "1024x1536"
    return "1024x1024"


def input_image_tokens(width: int, height: int, *, high_fidelity: bool) -> int:
    """One input image, as "Calculating costs -> GPT Image 1" counts it
    (https://developers.openai.com/api/docs/guides/images-vision): fit in 2048x2048, scale the
    shortest side to 512 px, 65 + 129 per 512-px tile; high fidelity adds 4096 for a square
    image, 6144 otherwise."""
    scale = 512 / min(width, height)  # the 2048 fit keeps the ratio, so it cancels out
    tiles = math.ceil(round(width * scale) / 512) * math.ceil(round(height * scale) / 512)
    tokens = 65 + 129 * tiles
    if high_fidelity:
        tokens += 4096 if width == height else 6144
    return tokens


def text_tokens(prompt: str) -> int:
    """About 4 bytes a token, plus ~6 tokens of overhead a third party measured on generations
    (https://longform.social/post/did:plc:lk3jfj3zq4k4wxnk474axylu/3mp463yxbr2c2)."""
    return math.ceil(len(prompt.encode()) / 4) + 6


def usage(call: Call, size: str, quality: str, partials: int) -> dict[str, Any]:
    """Token usage from the fake's own model table (openai_models), in the API's shape."""
    model: FakeModel = call.model
    text = text_tokens(call.prompt)
    high = model.always_high_fidelity or call.input_fidelity == "high"
    image_in = sum(input_image_tokens(w, h, high_fidelity=high) for w, h in call.inputs)
    image_out = model.tokens_for(size, quality) * call.n
    image_out += partials * model.partial_image_tokens
    return {
        "total_tokens": text + image_in + image_out,
        "input_tokens": text + image_in,
        "output_tokens": image_out,
        "input_tokens_details": {"text_tokens": text, "image_tokens": image_in},
    }


def make_image(
    size: str, output_format: str, *, transparent: bool, noise: bool, shade: int
) -> bytes:
    """A real image of `size`: flat colour (cheap) or random noise (incompressible)."""
    width, height = (int(v) for v in size.split("x"))
    mode = "RGBA" if transparent else "RGB"
    if noise:
        img = Image.frombytes(mode, (width, height), os.urandom(width * height * len(mode)))
    else:
        img = Image.new(mode, (width, height), (shade % 256, 90, 160, 255)[: len(mode)])
        if transparent:  # the left half fully transparent, as a cut-out would be
            img.paste((0, 0, 0, 0), (0, 0, width // 2, height))
    out = io.BytesIO()
    img.save(out, PIL_FORMAT[output_format])
    return out.getvalue()


def _resolved(call: Call, look: Look) -> tuple[str, str, str]:
    size = resolved_size(call)
    quality = look.auto_quality if call.quality == "auto" else call.quality
    background = "transparent" if call.background == "transparent" else "opaque"
    return size, quality, background


def _b64(call: Call, look: Look, size: str, background: str, shade: int) -> str:
    transparent = background == "transparent"
    data = make_image(
        size, call.output_format, transparent=transparent, noise=look.noise, shade=shade
    )
    return base64.b64encode(data).decode()


def json_body(call: Call, look: Look) -> dict[str, Any]:
    """A non-streamed ImagesResponse with resolved settings and full `usage`."""
    size, quality, background = _resolved(call, look)
    tokens = usage(call, size, quality, 0)
    tokens["output_tokens_details"] = {"image_tokens": tokens["output_tokens"], "text_tokens": 0}
    body = {
        "created": int(time.time()),
        "data": [{"b64_json": _b64(call, look, size, background, i * 40)} for i in range(call.n)],
        "background": background,
        "output_format": call.output_format,
        "size": size,
        "quality": quality,
        "usage": tokens,
    }
    if call.safety_identifier:  # the effective identifier is echoed (openai 3.63.0)
        body["safety_identifier"] = call.safety_identifier
    if not look.usage:
        del body["usage"]
    return body


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def sse_events(
    call: Call, look: Look, *, error: dict[str, Any] | None, error_after: int = 1
) -> Iterator[bytes]:
    """Partial events, then one completed event per image (usage on the last), or an error
    event after `error_after` partials. Events echo the *requested* settings, "auto" included."""
    size, quality, background = _resolved(call, look)
    prefix = "image_generation" if call.operation == "generate" else "image_edit"
    common = {
        "created_at": int(time.time()),
        "size": call.size,
        "quality": call.quality,
        "background": call.background,
        "output_format": call.output_format,
    }
    for i in range(call.partial_images):
        if error is not None and i >= error_after:
            break
        b64 = _b64(call, look, size, background, 200 + i)
        kind = f"{prefix}.partial_image"
        yield _sse(kind, {"type": kind, "b64_json": b64, "partial_image_index": i, **common})
    if error is not None:
        if error.get("_flat"):  # `event: error` with the error's fields flat (the spec's shape)
            fields = {k: v for k, v in error.items() if k != "_flat"}
            yield _sse("error", {**fields, "type": "error"})
        else:
            yield _sse("error", {"type": "error", "error": error})
        return
    tokens = usage(call, size, quality, call.partial_images)
    for i in range(call.n):
        kind = f"{prefix}.completed"
        event = {"type": kind, "b64_json": _b64(call, look, size, background, i * 40), **common}
        if i == call.n - 1 and look.usage:
            event["usage"] = tokens
        yield _sse(kind, event)
