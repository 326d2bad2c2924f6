"""The fake's moderation endpoint: OpenAI's request rules, flags by keyword or image pattern.

Rules as documented (https://developers.openai.com/api/docs/guides/moderation) or publicly
reported: `input` is a string, a list of strings, or a list of text/image_url parts; at most one
image per request (400 `too_many_images`); an image over 20 MB is refused (`file_too_large`);
text-moderation models take no images; every category comes back, with scores, and flags what
crossed.

Flags: a text containing a SCREEN_* keyword flags that keyword's categories; an image whose
average colour is strong red (the "pattern") flags violence and graphic violence.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import TYPE_CHECKING, Any

from aiohttp import web
from PIL import Image, UnidentifiedImageError

from tests.fakes.openai_faults import RawFailureError
from tests.fakes.openai_http import error_response, ids, read_record
from tests.fakes.openai_rules import ApiError

if TYPE_CHECKING:
    from tests.fakes.openai_server import FakeOpenAI

MODELS = ("omni-moderation-latest", "omni-moderation-2024-09-26")
TEXT_MODELS = ("text-moderation-latest", "text-moderation-stable")
MAX_IMAGE_BYTES = 20 * 1024 * 1024
CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
    "illicit/violent", "self-harm", "self-harm/intent", "self-harm/instructions", "sexual",
    "sexual/minors", "violence", "violence/graphic",
)  # fmt: skip
IMAGE_CATEGORIES = (
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "violence",
    "violence/graphic",
)  # fmt: skip
KEYWORDS: dict[str, tuple[str, ...]] = {
    "SCREEN_VIOLENCE": ("violence",),
    "SCREEN_HATE": ("hate", "harassment/threatening"),
    "SCREEN_SELFHARM": ("self-harm", "self-harm/intent"),
}
RED_PATTERN = ("violence", "violence/graphic")


def mount(app: web.Application, owner: FakeOpenAI) -> None:
    """POST /v1/moderations, with the same drops, latency, key check and scripted failures."""

    async def handler(request: web.Request) -> web.StreamResponse:
        rid = owner.next_id()
        record = await read_record(request, owner.api_key)
        owner.requests.append(record)
        await owner.faults.drop_if_scripted(request)
        try:
            await owner.preamble(request, rid)
            model, result = moderate(record.json, text_only=owner.moderation_text_only)
        except ApiError as err:
            return error_response(err, rid)
        except RawFailureError as raw:
            return raw.response
        body = {"id": f"modr-{rid.removeprefix('req_')}", "model": model, "results": [result]}
        return web.json_response(body, headers=ids(rid))

    app.router.add_post("/v1/moderations", handler)


def moderate(body: dict[str, Any] | None, *, text_only: bool = False) -> tuple[str, dict[str, Any]]:
    """(model, result) for a request body, or ApiError as the real endpoint answers.
    `text_only`: a gateway's endpoint that takes image parts but judges the words alone (every
    category then applies to "text" only)."""
    if body is None:
        raise ApiError(400, None, "We could not parse the JSON body of your request.")
    model = body.get("model", MODELS[0])
    if model not in MODELS + TEXT_MODELS:
        raise ApiError(404, "model_not_found", f"The model `{model}` does not exist.")
    texts, images = _inputs(body.get("input"))
    if images and model in TEXT_MODELS:
        raise ApiError(400, None, f"{model} does not support image inputs.", param="input")
    if len(images) > 1:
        message = f"Number of images ({len(images)}) exceeds maximum of 1"
        raise ApiError(400, "too_many_images", message, param="input")
    flagged: dict[str, str] = {}
    for text in texts:
        for keyword, categories in KEYWORDS.items():
            if keyword in text:
                flagged.update(dict.fromkeys(categories, "text"))
    for image in [] if text_only else images:
        if _is_red(image):
            flagged.update(dict.fromkeys(RED_PATTERN, "image"))
    return model, _result(flagged, bool(images) and not text_only)


def _inputs(value: Any) -> tuple[list[str], list[bytes]]:
    if isinstance(value, str):
        return [value], []
    if not isinstance(value, list) or not value:
        raise ApiError(400, None, "'input' must be a string or a non-empty array.", param="input")
    texts: list[str] = []
    images: list[bytes] = []
    for item in value:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict) and item.get("type") == "text":
            texts.append(str(item.get("text", "")))
        elif isinstance(item, dict) and item.get("type") == "image_url":
            images.append(_image(item.get("image_url") or {}))
        else:
            raise ApiError(400, "invalid_type", "Invalid input part.", param="input")
    return texts, images


def _image(ref: dict[str, Any]) -> bytes:
    url = str(ref.get("url", ""))
    if not url.startswith("data:"):
        # This fake fetches nothing; the real fetcher fails on expired or private links.
        raise ApiError(400, "image_url_unavailable", "Failed to download image.", param="input")
    try:
        data = base64.b64decode(url.partition(",")[2], validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "invalid_image", "The image data is not valid base64.") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise ApiError(400, "file_too_large", "The image is larger than 20 MB.", param="input")
    return data


def _is_red(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as img:
            r, g, b = img.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))  # type: ignore[misc]
    except (UnidentifiedImageError, OSError):
        raise ApiError(400, "invalid_image", "The image could not be decoded.") from None
    return bool(r > 180 and g < 70 and b < 70)


def _result(flagged: dict[str, str], with_image: bool) -> dict[str, Any]:
    applied = {
        c: (["text", "image"] if with_image and c in IMAGE_CATEGORIES else ["text"])
        for c in CATEGORIES
    }
    return {
        "flagged": bool(flagged),
        "categories": {c: c in flagged for c in CATEGORIES},
        "category_scores": {c: (0.93 if c in flagged else 0.0004) for c in CATEGORIES},
        "category_applied_input_types": applied,
    }
