"""The Batch API's wire format: JSONL request lines, Batch objects and output/error lines.

Shapes from the OpenAPI spec (docs/sources.md#batch-wire): an input line is
`{"custom_id", "method": "POST", "url", "body"}`; edits use the JSON body
(`EditImageBodyJsonParam`) with each image as `{"image_url": <base64 data URL>}`, because a batch
line cannot carry multipart files and Discord's CDN URLs expire before a batch may run. An
output or error line is `{"id", "custom_id", "response": {"status_code", "request_id", "body"}
| null, "error": {"code", "message"} | null}`, in no particular order.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.domain import ImageRequest, ImagesResult, InputImage
from bot.errors import BotError, PromptRejectedError, UpstreamUnavailableError
from bot.provider.failures import translate_error
from bot.provider.wire import MalformedResponseError, build_result, decode_b64, generation_body

ENDPOINTS = {"generate": "/v1/images/generations", "edit": "/v1/images/edits"}
COMPLETION_WINDOW = "24h"  # the only value the API takes
# Statuses after which a batch changes no more (its output and error files are final).
ENDED_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
METADATA_VALUE_MAX = 512  # characters per metadata value [OAS CreateBatchRequest]
# A batch input file holds at most 200 MB (OpenAI's Batch guide,
# https://platform.openai.com/docs/guides/batch, and the spec's `/files`); read as 10^6 bytes, the
# smaller reading.
INPUT_FILE_MAX_BYTES = 200_000_000
# `ImageRefParam.image_url` is at most 20,971,520 characters, a data URL included
# (https://github.com/openai/openai-openapi, `EditImageBodyJsonParam`): about 15 MiB of image.
DATA_URL_MAX_CHARS = 20_971_520


def data_url_length(image: InputImage) -> int:
    """The length in characters of `data_url(image)`, without building it."""
    return len(f"data:{image.mime};base64,") + 4 * -(-len(image.data) // 3)


def data_url(image: InputImage) -> str:
    """The image as a base64 data URL, the `image_url` form a batch line can carry."""
    return f"data:{image.mime};base64,{base64.b64encode(image.data).decode('ascii')}"


def edit_json_body(request: ImageRequest) -> dict[str, Any]:
    """The JSON body of an edit (`images[]`, optional `mask`), as a batch line sends it."""
    body = generation_body(request, stream=False)  # its options, edit-only ones included
    body["images"] = [{"image_url": data_url(image)} for image in request.images]
    if request.mask is not None:
        body["mask"] = {"image_url": data_url(request.mask)}
    if request.markup is not None:
        body["markup"] = {"image_url": data_url(request.markup)}
    return body


def request_line(custom_id: str, request: ImageRequest) -> bytes:
    """One JSONL line (newline included) of a batch input file."""
    if request.operation == "generate":
        body = generation_body(request, stream=False)
    else:
        body = edit_json_body(request)
    line = {
        "custom_id": custom_id,
        "method": "POST",
        "url": ENDPOINTS[request.operation],
        "body": body,
    }
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def jobs_metadata(key: str, job_ids: Sequence[int]) -> dict[str, str]:
    """Batch metadata naming our batch (how a restart finds it) and its jobs (for people)."""
    jobs = ",".join(str(job_id) for job_id in job_ids)
    if len(jobs) > METADATA_VALUE_MAX:
        jobs = jobs[: METADATA_VALUE_MAX - 1].rsplit(",", 1)[0] + "…"
    return {"imagebot_batch": key, "jobs": jobs}


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """A Batch object as the API returns it (the fields the bot uses)."""

    id: str
    status: str
    endpoint: str
    input_file_id: str | None
    output_file_id: str | None
    error_file_id: str | None
    created_at: int  # unix seconds
    metadata: Mapping[str, str] = field(default_factory=dict)
    total: int = 0
    completed: int = 0
    failed: int = 0
    errors: tuple[str, ...] = ()  # file-level validation errors, "code: message"

    @property
    def ended(self) -> bool:
        return self.status in ENDED_STATUSES


def parse_batch(data: object) -> BatchInfo:
    """A Batch object, or MalformedResponseError."""
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
        raise MalformedResponseError("not a batch object")
    counts = _mapping(data.get("request_counts"))
    metadata = _mapping(data.get("metadata"))
    errors_obj = data.get("errors")
    errors: list[str] = []
    if isinstance(errors_obj, Mapping) and isinstance(errors_obj.get("data"), list):
        for err in errors_obj["data"]:
            if isinstance(err, Mapping):
                errors.append(f"{err.get('code')}: {err.get('message')}")
    return BatchInfo(
        id=data["id"],
        status=str(data.get("status", "")),
        endpoint=str(data.get("endpoint", "")),
        input_file_id=_text(data.get("input_file_id")),
        output_file_id=_text(data.get("output_file_id")),
        error_file_id=_text(data.get("error_file_id")),
        created_at=_number(data.get("created_at")),
        metadata={str(k): str(v) for k, v in metadata.items()},
        total=_number(counts.get("total")),
        completed=_number(counts.get("completed")),
        failed=_number(counts.get("failed")),
        errors=tuple(errors),
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True, slots=True)
class LineOutcome:
    """How one batch line ended: its result, or the error that says why not (a 4xx answer, or
    a line the batch never ran: expired, cancelled, or missing from both files)."""

    custom_id: str
    result: ImagesResult | None = None
    error: BotError | None = None
    http_status: int | None = None
    error_code: str | None = None
    request_id: str | None = None


def iter_lines(content: bytes) -> Iterator[dict[str, Any]]:
    """The JSON objects of an output or error file; unreadable lines are skipped."""
    for raw in content.splitlines():
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and isinstance(line.get("custom_id"), str):
            yield line


def line_outcome(line: Mapping[str, Any], request: ImageRequest) -> LineOutcome:
    """One output/error line read against the request it answers (for resolved settings)."""
    custom_id = str(line["custom_id"])
    response = _mapping(line.get("response"))
    if not response:
        err = _mapping(line.get("error"))
        code = str(err.get("code") or "batch_error")
        message = str(err.get("message") or "the batch did not run this request")
        lost = UpstreamUnavailableError(f"batch line {code}: {message}", code=code)
        return LineOutcome(custom_id, error=lost, error_code=code)
    status = _number(response.get("status_code"))
    rid = _text(response.get("request_id"))
    body = response.get("body")
    if status >= 300 or not isinstance(body, Mapping):
        raw = json.dumps(body if body is not None else {}).encode()
        error = translate_error(
            status or None, raw, httpx.Headers(), model=request.options.model, request_id=rid
        )
        refused = isinstance(error, PromptRejectedError)
        code = "moderation_blocked" if refused else getattr(error, "code", None) or f"http_{status}"
        return LineOutcome(custom_id, error=error, http_status=status, error_code=code,
                           request_id=rid)  # fmt: skip
    try:
        result = _result(body, request, rid, status)
    except MalformedResponseError as exc:
        bad = UpstreamUnavailableError(f"malformed batch line: {exc}", status=status)
        return LineOutcome(custom_id, error=bad, http_status=status,
                           error_code="malformed", request_id=rid)  # fmt: skip
    return LineOutcome(custom_id, result=result, http_status=status, request_id=rid)


def _result(
    body: Mapping[str, Any], request: ImageRequest, rid: str | None, status: int
) -> ImagesResult:
    data = body.get("data")
    if not isinstance(data, list) or not data:
        raise MalformedResponseError("no image data")
    images = tuple(
        decode_b64(item.get("b64_json") if isinstance(item, Mapping) else None, f"image {i}")
        for i, item in enumerate(data)
    )
    return build_result(body, images, request, request_id=rid, latency_ms=0, status=status)
