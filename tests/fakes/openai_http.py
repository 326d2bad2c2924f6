"""The fake OpenAI server's request plumbing: request ids, recorded requests, keys and errors."""

from __future__ import annotations

import json

from aiohttp import BodyPartReader, web

from tests.fakes.openai_edit_files import FilePart
from tests.fakes.openai_records import RecordedPart, RecordedRequest
from tests.fakes.openai_rules import ApiError


def ids(rid: str) -> dict[str, str]:
    """The headers every answer carries (the API reference's "Debugging requests")."""
    return {"x-request-id": rid, "openai-processing-ms": "1"}


def error_response(err: ApiError, rid: str) -> web.Response:
    headers = ids(rid)
    if err.retry_after is not None:
        headers["Retry-After"] = str(err.retry_after)
    return web.json_response(err.body(), status=err.status, headers=headers)


def recorded(request: web.Request, api_key: str, **kw: object) -> RecordedRequest:
    """The request's method, path and headers, its Authorization redacted."""
    headers = dict(request.headers)
    if "Authorization" in headers:
        headers["Authorization"] = "[redacted]"
    authorized = request.headers.get("Authorization") == f"Bearer {api_key}"
    return RecordedRequest(request.method, request.path, headers, authorized, **kw)  # type: ignore[arg-type]


async def read_record(request: web.Request, api_key: str) -> RecordedRequest:
    """The whole request: multipart parts, or a JSON body (None when it does not parse)."""
    if request.content_type == "multipart/form-data":
        parts: list[RecordedPart] = []
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, BodyPartReader):
                data = await part.read()
                ctype = part.headers.get("Content-Type")
                parts.append(RecordedPart(part.name or "", part.filename, ctype, bytes(data)))
        return recorded(request, api_key, parts=parts)
    raw = await request.read()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    return recorded(request, api_key, json=body if isinstance(body, dict) else None, raw=raw)


def check_key(request: web.Request, api_key: str) -> None:
    """401 invalid_api_key unless the request carries this key."""
    if request.headers.get("Authorization") != f"Bearer {api_key}":
        masked = (request.headers.get("Authorization", "")[7:12] or "none") + "****"
        raise ApiError(
            401,
            "invalid_api_key",
            f"Incorrect API key provided: {masked}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
        )


def file_part(part: RecordedPart) -> FilePart:
    return FilePart(part.name, part.content_type, part.data)
