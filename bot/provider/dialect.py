"""One Images API request and answer in a provider's dialect, as its profile describes it."""

from __future__ import annotations

import base64
import json
from typing import Any

from bot.domain import ImageRequest, InputImage
from bot.provider.download import ResultDownloader
from bot.provider.profile import ProviderProfile
from bot.provider.wire import (
    MalformedResponseError,
    decode_b64,
    edit_form,
    generation_body,
)


def prepare(
    profile: ProviderProfile, request: ImageRequest, *, stream: bool
) -> tuple[str, dict[str, Any]]:
    """The path (under the base URL) and httpx arguments of one generation or edit."""
    upstream = profile.models.upstream(request.options.model, request.operation)
    path = profile.urls.path(request.operation, upstream)
    if request.operation == "generate" or profile.edits.encoding == "json_images":
        body = generation_body(request, stream=stream)
        body["model"] = upstream
        if request.operation == "edit":
            body.pop("moderation", None)
            body["images"] = [{"image_url": data_uri(image)} for image in request.images]
            if request.mask is not None:
                body["mask"] = {"image_url": data_uri(request.mask)}
        if profile.results.response_format:
            body["response_format"] = profile.results.response_format
        return path, {"json": body}
    # No Content-Type here: httpx must generate it with the multipart boundary.
    fields, files = edit_form(request, stream=stream)
    fields["model"] = upstream
    if profile.results.response_format:
        fields["response_format"] = profile.results.response_format
    if profile.edits.image_field != "auto":
        field = profile.edits.image_field
        files = [(field if name.startswith("image") else name, part) for name, part in files]
    return path, {"data": fields, "files": files}


# Refusal codes in each error envelope, as OpenAI's names (bot/provider/failures.py knows those):
# Azure's safety system answers `{"error": {"code": "contentFilter", ...}}`
# (https://learn.microsoft.com/azure/ai-foundry/openai/how-to/dall-e).
_REFUSALS = {"azure": {"contentFilter": "moderation_blocked"}}


def error_body(profile: ProviderProfile, body: bytes) -> bytes:
    """An error body with the envelope's refusal code renamed to OpenAI's; else unchanged."""
    renames = _REFUSALS.get(profile.envelope)
    if not renames:
        return body
    try:
        payload = json.loads(body)
        error = payload["error"]
        error["code"] = renames.get(error["code"], error["code"])
    except (ValueError, KeyError, TypeError):
        return body
    return json.dumps(payload).encode()


def data_uri(image: InputImage) -> str:
    """An input image inline, as JSON edits take it (`data:image/png;base64,...`)."""
    return f"data:{image.mime};base64,{base64.b64encode(image.data).decode('ascii')}"


async def read_images(
    body: bytes, downloader: ResultDownloader | None
) -> tuple[dict[str, Any], tuple[bytes, ...]]:
    """A non-streamed answer: its JSON object and its images, inline or downloaded at once."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedResponseError("body is not JSON") from exc
    if not isinstance(payload, dict):
        raise MalformedResponseError("body is not a JSON object")
    data = payload.get("data")
    if not isinstance(data, list) or not data:
        raise MalformedResponseError("no image data")
    images = []
    for i, item in enumerate(data):
        entry = item if isinstance(item, dict) else {}
        if entry.get("b64_json") or downloader is None:
            images.append(decode_b64(_strip_data_prefix(entry.get("b64_json")), f"image {i}"))
        else:
            images.append(await downloader.fetch(entry.get("url")))
    return payload, tuple(images)


def _strip_data_prefix(value: object) -> object:
    # Some gateways send `data:image/png;base64,...` in b64_json.
    if isinstance(value, str) and value.startswith("data:") and "," in value:
        return value.split(",", 1)[1]
    return value
