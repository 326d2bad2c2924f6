"""The fake Batch API's batches and lines: file validation (the codes of
https://github.com/openai/openai-openapi BatchError), each line
run through the synchronous endpoints' rules, and the lines a batch never ran."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.openai_edit_files import FilePart, check_edit_files
from tests.fakes.openai_org import DEFAULT_PROJECT
from tests.fakes.openai_rules import ApiError, Call, find_model, validate


@dataclass
class FakeBatch:
    """One batch, its input lines, its status and (once ended) its output and error files."""

    id: str
    endpoint: str
    input_file_id: str
    metadata: dict[str, str]
    created_at: int
    started: float
    lines: list[dict[str, Any]]
    status: str = "validating"
    errors: list[dict[str, Any]] = field(default_factory=list)
    end_early: tuple[str, int] | None = None  # (expired|cancelled, lines run before it)
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    project: str = DEFAULT_PROJECT  # the creating request's OpenAI-Project, billed its lines

    @property
    def custom_ids(self) -> list[str]:
        return [str(line.get("custom_id")) for line in self.lines]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "expires_at": self.created_at + 86400,
            "metadata": self.metadata,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "request_counts": {
                "total": 0 if self.status == "validating" else len(self.lines),
                "completed": self.completed,
                "failed": self.failed,
            },
        }


def validate_file(batch: FakeBatch, data: bytes) -> None:
    """File-level checks at validation; a bad file fails the whole batch (§1.2 codes)."""
    seen: set[str] = set()
    models: set[str] = set()
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            line = json.loads(raw)
        except ValueError:
            batch.errors.append(line_error("invalid_json_line", number, "Invalid JSON."))
            continue
        custom_id = str(line.get("custom_id", ""))
        if not custom_id or custom_id in seen:
            batch.errors.append(line_error("duplicate_custom_id", number, custom_id))
        if line.get("url") != batch.endpoint:
            batch.errors.append(line_error("url_mismatch", number, str(line.get("url"))))
        seen.add(custom_id)
        models.add(str((line.get("body") or {}).get("model")))
        batch.lines.append(line)
    if not batch.lines:
        batch.errors.append(line_error("empty_file", 0, "The input file is empty."))
    if len(models) > 1:
        batch.errors.append(line_error("model_mismatch", 0, "One model per batch."))
    if batch.errors:
        batch.status = "failed"


def line_call(owner: Any, line: dict[str, Any]) -> Call:
    """A line's body checked as its endpoint would check it; edits in the JSON body form."""
    body = dict(line.get("body") or {})
    spec = find_model(body, owner.retired_models)
    if line.get("url") == "/v1/images/generations":
        return validate("generate", body, spec, form=False)
    refs = body.pop("images", None)
    mask_ref = body.pop("mask", None)
    if body.pop("moderation", "auto") not in ("auto", "low"):
        raise ApiError(400, "invalid_value", "Invalid 'moderation'.", param="moderation")
    call = validate("edit", body, spec, form=False)
    if not isinstance(refs, list):
        raise ApiError(400, "missing_required_parameter", "Missing 'images'.", param="images")
    images = [ref_part("image", ref) for ref in refs]
    check_edit_files(call, images, ref_part("mask", mask_ref) if mask_ref else None)
    return call


def line_error(code: str, line: int, message: str) -> dict[str, Any]:
    return {"code": code, "line": line, "message": message, "param": None}


def not_run(line: dict[str, Any], status: str) -> dict[str, Any]:
    if status == "expired":
        error = {
            "code": "batch_expired",
            "message": "This request could not be executed before the completion window expired.",
        }
    else:
        error = {"code": "batch_cancelled", "message": "This request was cancelled."}
    return {"id": f"batch_req_{line.get('custom_id')}", "custom_id": line.get("custom_id"),
            "response": None, "error": error}  # fmt: skip


def ref_part(name: str, ref: object) -> FilePart:
    """An `image_url` data URL reference decoded into the file part the edit rules check."""
    url = ref.get("image_url") if isinstance(ref, dict) else None
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        raise ApiError(400, "invalid_image_url", f"Invalid '{name}': expected a data URL.",
                       param=name)  # fmt: skip
    head, _, payload = url.partition(";base64,")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "invalid_image_url", f"Invalid base64 in '{name}'.",
                       param=name) from None  # fmt: skip
    return FilePart(name, head.removeprefix("data:"), data)
