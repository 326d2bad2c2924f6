"""The fake's Images API: generations and edits, JSON or streamed, under a strict IPM limit."""

from __future__ import annotations

import json
from collections import deque
from typing import TYPE_CHECKING

from aiohttp import web

from tests.fakes.openai_edit_files import check_edit_files
from tests.fakes.openai_faults import GATEWAY_PAGES, RawFailureError
from tests.fakes.openai_http import error_response, file_part, ids, read_record
from tests.fakes.openai_outputs import json_body, sse_events
from tests.fakes.openai_records import (
    IPM_WINDOW,
    RecordedRequest,
    ipm_error,
    lone_image_array_error,
    moderation_error,
)
from tests.fakes.openai_rules import ApiError, Call, find_model, validate

if TYPE_CHECKING:
    from tests.fakes.openai_server import FakeOpenAI

MODERATION_TRIGGER = "MODERATION_BLOCK"
MODERATION_OUTPUT_TRIGGER = "MODERATION_BLOCK_OUTPUT"


class ImagesApi:
    """POST /v1/images/generations and /v1/images/edits; `accepted` is the IPM window."""

    def __init__(self, owner: FakeOpenAI) -> None:
        self._owner = owner
        self.accepted: deque[tuple[float, int]] = deque()  # (clock, images) of accepted calls
        # Every accepted call (clock, images), never trimmed: a test's whole run, window by window.
        self.history: list[tuple[float, int]] = []
        self.ipm_refusals = 0  # calls refused with a 429 because they would pass the IPM limit

    def mount(self, app: web.Application) -> None:
        app.router.add_post("/v1/images/generations", self._generations)
        app.router.add_post("/v1/images/edits", self._edits)

    @property
    def images_served(self) -> int:
        return sum(n for _, n in self.accepted)

    async def _generations(self, request: web.Request) -> web.StreamResponse:
        return await self._images(request, "generate")

    async def _edits(self, request: web.Request) -> web.StreamResponse:
        return await self._images(request, "edit")

    async def _images(self, request: web.Request, operation: str) -> web.StreamResponse:
        owner = self._owner
        rid = owner.next_id()
        record = await read_record(request, owner.api_key)
        owner.requests.append(record)
        await owner.faults.drop_if_scripted(request)
        try:
            await owner.preamble(request, rid, record.params.get("model"))
            call = self._validate(operation, record)
            self._admit(call.n)
            if MODERATION_OUTPUT_TRIGGER in call.prompt:  # the prompt passed, the image did not
                raise moderation_error(rid, "output")
            if MODERATION_TRIGGER in call.prompt:
                raise moderation_error(rid)
        except ApiError as err:
            return error_response(err, rid)
        except RawFailureError as raw:
            return raw.response
        project = record.headers.get("OpenAI-Project")
        page = owner.faults.take_gateway_page()
        if page is not None:  # the API took it (and may bill it); the proxy gave up on it
            status, after = page
            await owner.faults.pause(after)
            body = GATEWAY_PAGES.get(status, b"<html><body>error</body></html>")
            owner.record_served(call, project, 0)  # made behind the proxy: billed all the same
            return web.Response(status=status, body=body, content_type="text/html")
        if call.stream:
            return await self._stream(request, call, rid, project)
        owner.record_served(call, project, 0)
        return self._respond(call, rid)

    def _validate(self, operation: str, record: RecordedRequest) -> Call:
        if operation == "generate" and record.json is None:
            raise ApiError(400, None, "We could not parse the JSON body of your request.")
        if operation == "edit" and record.json is not None:
            raise ApiError(400, None, "This fake only accepts multipart/form-data edits.")
        params = record.params
        if "response_format" in params:
            raise ApiError(400, "unknown_parameter", "Unknown parameter: 'response_format'.",
                           param="response_format")  # fmt: skip
        model = find_model(params, self._owner.unavailable_models())
        call = validate(operation, params, model, form=record.json is None)
        if operation == "edit":
            self._edit_files(call, record)
        return call

    def _edit_files(self, call: Call, record: RecordedRequest) -> None:
        for part in record.parts:
            if part.name in ("image", "image[]") and part.filename is None:
                raise ApiError(
                    400,
                    "invalid_type",
                    "Invalid type for 'image': expected one of an array of files or file, "
                    "but got a string instead.",
                    param="image",
                )
        images = [file_part(p) for p in record.parts if p.name in ("image", "image[]")]
        if self._owner.refuse_lone_image_array and [p.name for p in images] == ["image[]"]:
            raise lone_image_array_error()
        masks = [file_part(p) for p in record.parts if p.name == "mask"]
        markups = [file_part(p) for p in record.parts if p.name == "markup"]
        check_edit_files(call, images, masks[0] if masks else None, markups[0] if markups else None)

    def _admit(self, n: int) -> None:
        """Strict IPM over a trailing 60 s window of accepted images."""
        now = self._owner.clock()
        while self.accepted and self.accepted[0][0] <= now - IPM_WINDOW:
            self.accepted.popleft()
        ipm = self._owner.ipm
        if ipm is not None:
            used = self.images_served
            if used + n > ipm:
                self.ipm_refusals += 1
                raise ipm_error(self.accepted, used, n, ipm, now)
        self.accepted.append((now, n))
        self.history.append((now, n))

    def _respond(self, call: Call, rid: str) -> web.Response:
        whole = json_body(call, self._owner.look())
        if self._owner.faults.take_garble():
            raw = json.dumps(whole).encode()
            return web.Response(
                body=raw[: len(raw) // 2], content_type="application/json", headers=ids(rid)
            )
        return web.json_response(whole, headers=ids(rid))

    async def _stream(
        self, request: web.Request, call: Call, rid: str, project: str | None
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={**ids(rid), "Cache-Control": "no-cache"})
        response.content_type = "text/event-stream"
        await response.prepare(request)
        error, after = self._owner.faults.take_stream_error()
        pause = self._owner.partial_pause
        for chunk in sse_events(call, self._owner.look(), error=error, error_after=after):
            await response.write(chunk)
            if pause and b"partial_image" in chunk:  # after the first partial only
                await self._owner.faults.pause(pause)
                pause = 0.0
        if error is None:  # every image went out, so it is billed
            self._owner.record_served(call, project, call.partial_images)
            if self._owner.sse_done:
                await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
