"""The fake's Files and Batches endpoints: JSONL batches run like the synchronous endpoints.

A batch validates its file at creation (openai-openapi BatchError codes), then runs each line
through the same rules as /images/generations and /images/edits (validation, the moderation
keyword, usage from the fake's own model table) once `batch_seconds` have passed on the fake's
clock, without counting its images against the IPM (batches have their own pool:
https://developers.openai.com/api/docs/guides/batch). Faults: hold batches open, expire the next
batch after k lines, fail the next lines with a 5xx, and delay a create's answer (the window in
which a crash leaves a batch created but not recorded).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.openai_batch_lines import (
    FakeBatch,
    line_call,
    line_error,
    not_run,
    validate_file,
)
from tests.fakes.openai_org import DEFAULT_PROJECT
from tests.fakes.openai_outputs import json_body
from tests.fakes.openai_records import moderation_error
from tests.fakes.openai_rules import ApiError

if TYPE_CHECKING:
    from tests.fakes.openai_server import FakeOpenAI

ENDPOINTS = ("/v1/images/generations", "/v1/images/edits")
JSON_EDIT_ONLY = frozenset({"images", "mask", "moderation"})


class FakeBatches:
    """Files and Batches state and handlers, mounted on the FakeOpenAI app."""

    def __init__(self, owner: FakeOpenAI) -> None:
        self._owner = owner
        self.files: dict[str, tuple[str, str, bytes]] = {}  # id -> (purpose, filename, bytes)
        self.batches: dict[str, FakeBatch] = {}
        self.expires: dict[str, int | None] = {}  # file id -> expires_after.seconds
        self.output_expires: dict[str, int | None] = {}  # batch id -> output_expires_after
        self.batch_seconds = 0.0  # how long a batch runs, on the owner's clock
        self.hold = False  # keep every batch in_progress until released
        self.create_delay = 0.0  # real seconds a create waits after creating, before answering
        self._end_next: tuple[str, int] | None = None
        self._refuse_next: str | None = None
        self._line_failures = 0
        self._count = 0

    def mount(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{file_id}/content", self._content)
        app.router.add_post("/v1/batches", self._create)
        app.router.add_get("/v1/batches", self._list)
        app.router.add_get("/v1/batches/{batch_id}", self._retrieve)
        app.router.add_post("/v1/batches/{batch_id}/cancel", self._cancel)

    # ---- scripting -------------------------------------------------------------------------
    def expire_next(self, done_lines: int) -> None:
        """The next batch created runs only its first `done_lines` lines, then expires."""
        self._end_next = ("expired", done_lines)

    def cancel_next(self, done_lines: int) -> None:
        """The next batch created is cancelled (from the dashboard) after `done_lines` lines."""
        self._end_next = ("cancelled", done_lines)

    def refuse_next(self, model: str = "gpt-image-2") -> None:
        """The next batch created fails validation on the model's enqueued-token limit."""
        self._refuse_next = model

    def fail_next_lines(self, times: int = 1) -> None:
        """The next `times` lines run fail with a 500 server_error (in the error file)."""
        self._line_failures += times

    def release(self) -> None:
        self.hold = False

    @property
    def lines_run(self) -> int:
        return sum(b.completed + b.failed for b in self.batches.values())

    # ---- handlers --------------------------------------------------------------------------
    async def _upload(self, request: web.Request) -> web.Response:
        rid = self._owner.begin(request)
        try:
            await self._owner.check_auth(request)
            purpose, filename, data, expires = await _file_form(request)
        except ApiError as err:
            return self._owner.error_response(err, rid)
        file_id = self._id("file")
        self.files[file_id] = (purpose, filename, data)
        self.expires[file_id] = expires
        return web.json_response(_file_json(file_id, purpose, filename, data), headers=_ids(rid))

    async def _content(self, request: web.Request) -> web.Response:
        rid = self._owner.begin(request)
        try:
            await self._owner.check_auth(request)
            _, _, data = self._file(request.match_info["file_id"])
        except ApiError as err:
            return self._owner.error_response(err, rid)
        return web.Response(body=data, content_type="application/octet-stream", headers=_ids(rid))

    async def _create(self, request: web.Request) -> web.Response:
        rid = self._owner.begin(request)
        try:
            await self._owner.check_auth(request)
            batch = self._new_batch(await _json(request))
            batch.project = request.headers.get("OpenAI-Project") or DEFAULT_PROJECT
        except ApiError as err:
            return self._owner.error_response(err, rid)
        self.batches[batch.id] = batch
        if self.create_delay:
            await asyncio.sleep(self.create_delay)
        return web.json_response(batch.as_json(), headers=_ids(rid))

    async def _retrieve(self, request: web.Request) -> web.Response:
        rid = self._owner.begin(request)
        try:
            await self._owner.check_auth(request)
            batch = self._batch(request.match_info["batch_id"])
        except ApiError as err:
            return self._owner.error_response(err, rid)
        self._advance(batch)
        return web.json_response(batch.as_json(), headers=_ids(rid))

    async def _list(self, request: web.Request) -> web.Response:
        rid = self._owner.begin(request)
        try:
            await self._owner.check_auth(request)
        except ApiError as err:
            return self._owner.error_response(err, rid)
        limit = max(1, min(100, int(request.query.get("limit", "20"))))
        ordered = sorted(self.batches.values(), key=lambda b: b.id, reverse=True)
        after = request.query.get("after")
        if after:
            ordered = [b for b in ordered if b.id < after]
        page = ordered[:limit]
        for batch in page:
            self._advance(batch)
        body = {
            "object": "list",
            "data": [b.as_json() for b in page],
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
            "has_more": len(ordered) > limit,
        }
        return web.json_response(body, headers=_ids(rid))

    async def _cancel(self, request: web.Request) -> web.Response:
        rid = self._owner.begin(request)
        try:
            await self._owner.check_auth(request)
            batch = self._batch(request.match_info["batch_id"])
        except ApiError as err:
            return self._owner.error_response(err, rid)
        if batch.status in ("validating", "in_progress"):
            self._finish(batch, "cancelled", run=0)
        return web.json_response(batch.as_json(), headers=_ids(rid))

    # ---- batches ---------------------------------------------------------------------------
    def _new_batch(self, body: dict[str, Any]) -> FakeBatch:
        input_file_id = body.get("input_file_id")
        endpoint = body.get("endpoint")
        if body.get("completion_window") != "24h":
            raise ApiError(400, "invalid_value", "completion_window must be '24h'.",
                           param="completion_window")  # fmt: skip
        if endpoint not in ENDPOINTS:
            raise ApiError(400, "invalid_value", f"Invalid endpoint: {endpoint!r}.",
                           param="endpoint")  # fmt: skip
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict) or len(metadata) > 16:
            raise ApiError(400, "invalid_value", "metadata: at most 16 pairs.", param="metadata")
        out = body.get("output_expires_after")
        out_expires = (  # same rule as a file's, for the output and error files [SDK]
            _check_expiry(out.get("anchor"), str(out.get("seconds")))
            if isinstance(out, dict)
            else _check_expiry(None, None)
        )
        purpose, _, data = self._file(str(input_file_id))
        if purpose != "batch":
            raise ApiError(400, "invalid_request_error", "The file's purpose must be 'batch'.")
        batch = FakeBatch(
            id=self._id("batch"),
            endpoint=str(endpoint),
            input_file_id=str(input_file_id),
            metadata={str(k): str(v) for k, v in metadata.items()},
            created_at=int(time.time()),
            started=self._owner.clock(),
            lines=[],
            end_early=self._end_next,
        )
        self._end_next = None
        self.output_expires[batch.id] = out_expires
        validate_file(batch, data)
        if self._refuse_next is not None:
            batch.errors.append(
                line_error("token_limit_exceeded", 0, _queue_full(self._refuse_next))
            )
            batch.status, self._refuse_next = "failed", None
        return batch

    def _advance(self, batch: FakeBatch) -> None:
        """Move a batch along its life as the fake's clock passes."""
        if batch.status == "validating":
            batch.status = "in_progress"
            return
        if batch.status != "in_progress" or self.hold:
            return
        if self._owner.clock() < batch.started + self.batch_seconds:
            return
        if batch.end_early is not None:
            status, run = batch.end_early
            self._finish(batch, status, run=run)
        else:
            self._finish(batch, "completed", run=len(batch.lines))

    def _finish(self, batch: FakeBatch, status: str, *, run: int) -> None:
        """Run the first `run` lines; the rest end as the status says (expired, cancelled)."""
        output: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, line in enumerate(batch.lines):
            if index < run:
                answer = self._run_line(line, batch.project)
                ok = answer["response"]["status_code"] == 200
                (output if ok else errors).append(answer)
                batch.completed += ok
                batch.failed += not ok
            else:
                errors.append(not_run(line, status))
                batch.failed += 1
        batch.status = status
        if output:
            batch.output_file_id = self._store_output(output)
        if errors:
            batch.error_file_id = self._store_output(errors)

    def _run_line(self, line: dict[str, Any], project: str) -> dict[str, Any]:
        """One line as the synchronous endpoint would answer it (no IPM: its own pool); an
        answered line is billed to the organization at the batch prices."""
        rid = self._id("req")
        try:
            if self._line_failures:
                self._line_failures -= 1
                raise ApiError(
                    500, "server_error", "The server had an error.", type_="server_error"
                )
            call = line_call(self._owner, line)
            if "MODERATION_BLOCK" in call.prompt:
                raise moderation_error(rid)
            body, status = json_body(call, self._owner.look()), 200
            self._owner.record_served(call, project, batch=True)
        except ApiError as err:
            body, status = err.body(), err.status
        response = {"status_code": status, "request_id": rid, "body": body}
        return {"id": self._id("batch_req"), "custom_id": line.get("custom_id"),
                "response": response, "error": None}  # fmt: skip

    def _store_output(self, lines: list[dict[str, Any]]) -> str:
        file_id = self._id("file")
        data = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        self.files[file_id] = ("batch_output", f"{file_id}.jsonl", data)
        return file_id

    def _file(self, file_id: str) -> tuple[str, str, bytes]:
        if file_id not in self.files:
            raise ApiError(404, None, f"No such File object: {file_id}", param="id")
        return self.files[file_id]

    def _batch(self, batch_id: str) -> FakeBatch:
        if batch_id not in self.batches:
            raise ApiError(404, None, f"No batch found with id '{batch_id}'.", param="batch_id")
        return self.batches[batch_id]

    def _id(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count:08d}"


def _queue_full(model: str) -> str:
    """As public clients report it (openai/openai-python#1643)."""
    return (
        f"Enqueued token limit reached for {model} in organization org-test. Limit: 2,000,000 "
        "enqueued tokens. Please try again once some in_progress batches have been completed."
    )


def _ids(rid: str) -> dict[str, str]:
    return {"x-request-id": rid}


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except ValueError:
        raise ApiError(400, None, "We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise ApiError(400, None, "We could not parse the JSON body of your request.")
    return body


async def _file_form(request: web.Request) -> tuple[str, str, bytes, int | None]:
    if request.content_type != "multipart/form-data":
        raise ApiError(400, None, "Expected multipart/form-data.")
    form = await request.post()
    purpose, upload = form.get("purpose"), form.get("file")
    if not isinstance(purpose, str) or not purpose:
        raise ApiError(400, "missing_required_parameter", "Missing 'purpose'.", param="purpose")
    if not isinstance(upload, web.FileField):
        raise ApiError(400, "missing_required_parameter", "Missing 'file'.", param="file")
    expires = _check_expiry(form.get("expires_after[anchor]"), form.get("expires_after[seconds]"))
    filename = upload.filename or ""
    if purpose == "batch" and not filename.endswith(".jsonl"):
        message = "Invalid file format for Batch API. Must be .jsonl"
        raise ApiError(400, "invalid_file_format", message, param="file")
    return purpose, filename, upload.file.read(), expires


def _check_expiry(anchor: object, seconds: object) -> int | None:
    """`expires_after`: anchor created_at, 3600 to 2592000 seconds [OAS FileExpirationAfter]."""
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise ApiError(400, "invalid_value", "expires_after.anchor must be 'created_at'.",
                       param="expires_after.anchor")  # fmt: skip
    if (
        not isinstance(seconds, str)
        or not seconds.isdigit()
        or not (3600 <= int(seconds) <= 2_592_000)
    ):
        raise ApiError(400, "invalid_value", "expires_after.seconds must be 3600 to 2592000.",
                       param="expires_after.seconds")  # fmt: skip
    return int(seconds)


def _file_json(file_id: str, purpose: str, filename: str, data: bytes) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": len(data),
        "created_at": int(time.time()),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
    }
