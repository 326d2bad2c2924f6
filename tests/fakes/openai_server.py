"""A loopback fake of the OpenAI Images API (aiohttp) with real images, usage, IPM and faults."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from bot.catalog.models import Catalog, load_catalog
from tests.fakes.openai_batches import FakeBatches
from tests.fakes.openai_moderation import moderate
from tests.fakes.openai_org import DEFAULT_PROJECT, OrgRecord, admin_auth, served_from
from tests.fakes.openai_outputs import Look, json_body, resolved_size, sse_events, usage
from tests.fakes.openai_records import (
    IPM_WINDOW,
    RecordedPart,
    RecordedRequest,
    ipm_error,
    lone_image_array_error,
    moderation_error,
    scripted_error,
)
from tests.fakes.openai_rules import (
    ApiError,
    Call,
    FilePart,
    check_edit_files,
    check_markup,
    find_spec,
    validate,
)

MAX_BODY = 64 * 1024 * 1024
MODERATION_TRIGGER = "MODERATION_BLOCK"
MODERATION_OUTPUT_TRIGGER = "MODERATION_BLOCK_OUTPUT"
# Error pages of the proxies commonly put in front of the API (OPENAI_BASE_URL), as they ship.
GATEWAY_PAGES = {
    502: b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>"
    b"502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    504: b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center>"
    b"<h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
    b"</html>\r\n",
    524: b'<!DOCTYPE html>\n<html lang="en-US"><head><title>api.example.com | 524: A timeout '
    b"occurred</title></head><body><h1>A timeout occurred</h1><p>The origin web server timed "
    b"out responding to this request.</p><p>Cloudflare Ray ID: 8f2a1b3c4d5e6f70</p></body>"
    b"</html>\n",
}


@dataclass
class _Failure:
    status: int
    code: str | None
    times: int
    retry_after: float | None
    body: bytes | str | dict[str, Any] | None


class FakeOpenAI:
    """`async with FakeOpenAI() as fake:` serves http://127.0.0.1:PORT/v1 on the test's loop."""

    def __init__(
        self,
        api_key: str = "sk-test",
        *,
        admin_key: str = "sk-admin-test",
        ipm: int | None = None,
        clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.api_key = api_key
        self.admin_key = admin_key
        self.ipm = ipm
        self.clock = clock or time.monotonic
        self.catalog = catalog or load_catalog()
        self.requests: list[RecordedRequest] = []
        self.retired_models: set[str] = set()
        # What GET /models lists; None = the catalog minus retired models. A model not listed
        # is also refused on the images endpoints, as a provider that lacks it would.
        self.listed_models: list[str] | None = None
        self.models_error: int | None = None  # GET /models answers this status when set
        # Unix time of served calls, for the organization's usage and costs (tests may offset it).
        self.wall_clock: Callable[[], float] = wall_clock or time.time
        self.org = OrgRecord(self.catalog, lambda: self.wall_clock())
        self.noise = False
        self.auto_quality = "medium"
        self.latency = 0.0
        self.sse_done = False  # end streams with `data: [DONE]` (the real API is not known to)
        # Behave as the OpenAI-compatible gateways reported to refuse one input sent as `image[]`
        # (LiteLLM proxy builds of September 2026, among others); OpenAI itself takes both.
        self.refuse_lone_image_array = False
        self.hide_usage = False  # answer without `usage`, as some gateways do
        self.base_url = ""
        self._failures: deque[_Failure] = deque()
        self._hangs: deque[float] = deque()
        self._drops = 0
        self._gateway_pages: deque[tuple[int, float]] = deque()
        self._garbles = 0
        self._stream_errors: deque[tuple[dict[str, Any], int]] = deque()
        self._accepted: deque[tuple[float, int]] = deque()
        self._count = 0
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.batches = FakeBatches(self)  # the Files and Batches endpoints

    # ---- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> FakeOpenAI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/v1/images/generations", self._generations)
        app.router.add_post("/v1/images/edits", self._edits)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/organization/usage/images", self._org_usage_images)
        app.router.add_get("/v1/organization/costs", self._org_costs)
        self.batches.mount(app)
        app.router.add_post("/v1/moderations", self._moderations)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=0.1
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- scripting -------------------------------------------------------------------------
    def enqueue_failure(
        self,
        status: int = 500,
        code: str | None = None,
        times: int = 1,
        retry_after: float | None = None,
        body: bytes | str | dict[str, Any] | None = None,
    ) -> None:
        """The next `times` requests fail with this status/code (or this raw body)."""
        self._failures.append(_Failure(status, code, times, retry_after, body))

    def hang_next(self, seconds: float) -> None:
        """The next request waits this long (real time) before it is answered."""
        self._hangs.append(seconds)

    def drop_next(self) -> None:
        """The next request is read, then its connection closed without a response."""
        self._drops += 1

    def gateway_page_next(self, status: int = 504, after: float = 1.0) -> None:
        """The next request is read whole, then a proxy's HTML error page (502, 504 from nginx,
        524 from Cloudflare) comes `after` seconds later. Whether the API behind it made the
        image is unknown: this fake makes it (it counts against IPM), as it may in real life."""
        self._gateway_pages.append((status, after))

    def garble_next(self) -> None:
        """The next request is made, and its 200 answer cut short (an unreadable body)."""
        self._garbles += 1

    def stream_error_next(
        self, code: str = "moderation_blocked", message: str = "", *, after_partials: int = 1
    ) -> None:
        """The next streamed request sends an `error` event after `after_partials` partial
        images (0: as its first event, before any work was streamed)."""
        text = message or "Your request was rejected by the safety system."
        err_type = "image_generation_user_error" if code == "moderation_blocked" else "server_error"
        error = {"message": text, "type": err_type, "param": None, "code": code}
        self._stream_errors.append((error, after_partials))

    def model_ids(self) -> list[str]:
        """What GET /models lists now."""
        if self.listed_models is not None:
            return list(self.listed_models)
        return [n for n in self.catalog.names() if n not in self.retired_models]

    def add_org_usage(
        self,
        model: str,
        images: int,
        *,
        at: float | None = None,
        size: str = "1024x1024",
        quality: str = "medium",
        source: str = "image.generation",
        project: str = DEFAULT_PROJECT,
    ) -> None:
        """Calls the organization made that this fake did not serve to the bot (another app,
        or an answer the bot lost): billed images with nominal tokens, in usage and costs."""
        spec = self.catalog.get(model)
        call = Call(operation="generate", spec=spec, prompt="another app", n=images, size=size)
        tokens = usage(call, size, quality, 0)
        when = self.wall_clock() if at is None else at
        self.org.served.append(served_from(when, model, size, source, images, tokens, project))

    @property
    def images_served(self) -> int:
        """Images of accepted requests (what counts against IPM)."""
        return sum(n for _, n in self._accepted)

    @property
    def sync_requests(self) -> list[RecordedRequest]:
        """Requests to the synchronous image endpoints (what counts against IPM)."""
        return [r for r in self.requests if r.path.startswith("/v1/images/")]

    # ---- shared with the Files and Batches endpoints ----------------------------------------
    def begin(self, request: web.Request) -> str:
        """Record a request (headers only) and give it a request id."""
        self.requests.append(self._recorded(request))
        return self._next_id()

    async def check_auth(self, request: web.Request) -> None:
        """Latency, hangs, auth and scripted failures, as for the image endpoints."""
        try:
            await self._preamble(request)
        except _RawFailureError as raw:
            raise ApiError(raw.response.status, None, "Scripted raw failure.") from None

    def error_response(self, err: ApiError, rid: str) -> web.Response:
        return self._error(err, rid)

    def look(self) -> Look:
        return self._look()

    # ---- handlers --------------------------------------------------------------------------
    async def _generations(self, request: web.Request) -> web.StreamResponse:
        return await self._images(request, "generate")

    async def _edits(self, request: web.Request) -> web.StreamResponse:
        return await self._images(request, "edit")

    async def _models(self, request: web.Request) -> web.StreamResponse:
        # Scripted failures and hangs are for the images endpoints; /models fails only when
        # `models_error` says so (the bot asks /models at start-up, before any test's script).
        rid = self._next_id()
        self.requests.append(self._recorded(request))
        try:
            self._check_key(request)
            if self.models_error is not None:
                raise scripted_error(self.models_error, None, None)
        except ApiError as err:
            return self._error(err, rid)
        names = self.model_ids()
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "system"} for n in names]
        return web.json_response({"object": "list", "data": data}, headers=self._ids(rid))

    async def _org_usage_images(self, request: web.Request) -> web.StreamResponse:
        return self._org(request, self.org.usage_page)

    async def _org_costs(self, request: web.Request) -> web.StreamResponse:
        return self._org(request, self.org.costs_page)

    def _org(
        self, request: web.Request, page: Callable[[dict[str, list[str]]], dict[str, Any]]
    ) -> web.StreamResponse:
        rid = self._next_id()
        self.requests.append(self._recorded(request))
        query = {key: request.query.getall(key) for key in request.query}
        try:
            admin_auth(request.headers.get("Authorization", ""), self.admin_key, self.api_key)
            return web.json_response(page(query), headers=self._ids(rid))
        except ApiError as err:
            return self._error(err, rid)

    def _served(self, call: Call, record: RecordedRequest, partials: int) -> None:
        project = record.headers.get("OpenAI-Project") or DEFAULT_PROJECT
        self.record_served(call, project, partials)

    def record_served(
        self, call: Call, project: str, partials: int = 0, *, batch: bool = False
    ) -> None:
        """Count an answered call (or, `batch`, a Batch API line) in the organization's usage
        and costs: the same tokens as its `usage` (see openai_outputs); batch lines are billed
        at the batch prices (research batch-moderation-usage.md §1.6)."""
        source = "image.generation" if call.operation == "generate" else "image.edit"
        size = resolved_size(call)
        quality = self.auto_quality if call.quality == "auto" else call.quality
        tokens = usage(call, size, quality, partials)
        served = served_from(
            self.wall_clock(), call.spec.name, size, source, call.n, tokens, project, batch=batch
        )
        self.org.served.append(served)

    async def _moderations(self, request: web.Request) -> web.StreamResponse:
        rid = self._next_id()
        record = await self._record(request)
        self.requests.append(record)
        if self._drops:
            self._drops -= 1
            await self._drop(request)
        try:
            await self._preamble(request)
            model, result = moderate(record.json)
        except ApiError as err:
            return self._error(err, rid)
        except _RawFailureError as raw:
            return raw.response
        body = {"id": f"modr-{self._count}", "model": model, "results": [result]}
        return web.json_response(body, headers=self._ids(rid))

    @property
    def image_requests(self) -> list[RecordedRequest]:
        """Requests to the Images API (generations and edits), in order."""
        return [r for r in self.requests if r.path.startswith("/v1/images/")]

    @property
    def moderation_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/moderations"]

    async def _images(self, request: web.Request, operation: str) -> web.StreamResponse:
        rid = self._next_id()
        record = await self._record(request)
        self.requests.append(record)
        if self._drops:
            self._drops -= 1
            await self._drop(request)
        try:
            await self._preamble(request)
            call = self._validate(operation, record)
            self._admit(call.n)
            if MODERATION_OUTPUT_TRIGGER in call.prompt:  # the prompt passed, the image did not
                raise moderation_error(rid, "output")
            if MODERATION_TRIGGER in call.prompt:
                raise moderation_error(rid)
        except ApiError as err:
            return self._error(err, rid)
        except _RawFailureError as raw:
            return raw.response
        if self._gateway_pages:  # the API took it (and may bill it); the proxy gave up on it
            status, after = self._gateway_pages.popleft()
            await self._pause(after)
            page = GATEWAY_PAGES.get(status, b"<html><body>error</body></html>")
            self._served(call, record, 0)  # made behind the proxy, so billed to the organization
            return web.Response(status=status, body=page, content_type="text/html")
        if call.stream:
            pending = len(self._stream_errors)
            response = await self._stream(request, call, rid)
            if len(self._stream_errors) == pending:  # no error event: every image went out
                self._served(call, record, call.partial_images)
            return response
        self._served(call, record, 0)
        return self._respond(call, rid)

    async def _preamble(self, request: web.Request) -> None:
        """Latency, hangs, auth and scripted failures, in the order a real server meets them."""
        if self.latency:
            await self._pause(self.latency)
        if self._hangs:
            await self._pause(self._hangs.popleft())
        self._check_key(request)
        if self._failures:
            self._scripted()

    def _check_key(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            masked = (request.headers.get("Authorization", "")[7:12] or "none") + "****"
            raise ApiError(
                401,
                "invalid_api_key",
                f"Incorrect API key provided: {masked}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
            )

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)

    async def _drop(self, request: web.Request) -> None:
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError

    def _scripted(self) -> None:
        failure = self._failures[0]
        failure.times -= 1
        if failure.times <= 0:
            self._failures.popleft()
        if failure.body is not None:
            headers = self._ids(f"req_{self._count}")
            if failure.retry_after is not None:
                headers["Retry-After"] = str(failure.retry_after)
            body = failure.body
            text = json.dumps(body) if isinstance(body, dict) else body
            raw = text.encode() if isinstance(text, str) else text
            response = web.Response(
                status=failure.status, body=raw, content_type="application/json", headers=headers
            )
            raise _RawFailureError(response)
        retry_after = None if failure.retry_after is None else math.ceil(failure.retry_after)
        raise scripted_error(failure.status, failure.code, retry_after)

    # ---- helpers ---------------------------------------------------------------------------
    def _next_id(self) -> str:
        self._count += 1
        return f"req_{self._count}"

    @staticmethod
    def _ids(rid: str) -> dict[str, str]:
        return {"x-request-id": rid, "openai-processing-ms": "1"}

    def _error(self, err: ApiError, rid: str) -> web.Response:
        headers = self._ids(rid)
        if err.retry_after is not None:
            headers["Retry-After"] = str(err.retry_after)
        return web.json_response(err.body(), status=err.status, headers=headers)

    def _recorded(self, request: web.Request, **kw: Any) -> RecordedRequest:
        headers = dict(request.headers)
        if "Authorization" in headers:
            headers["Authorization"] = "[redacted]"
        authorized = request.headers.get("Authorization") == f"Bearer {self.api_key}"
        return RecordedRequest(request.method, request.path, headers, authorized, **kw)

    async def _record(self, request: web.Request) -> RecordedRequest:
        if request.content_type == "multipart/form-data":
            parts: list[RecordedPart] = []
            reader = await request.multipart()
            async for part in reader:
                if isinstance(part, BodyPartReader):
                    data = await part.read()
                    ctype = part.headers.get("Content-Type")
                    parts.append(RecordedPart(part.name or "", part.filename, ctype, bytes(data)))
            return self._recorded(request, parts=parts)
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        return self._recorded(request, json=body if isinstance(body, dict) else None, raw=raw)

    def _validate(self, operation: str, record: RecordedRequest) -> Call:
        if operation == "generate" and record.json is None:
            raise ApiError(400, None, "We could not parse the JSON body of your request.")
        if operation == "edit" and record.json is not None:
            raise ApiError(400, None, "This fake only accepts multipart/form-data edits.")
        params = record.params
        if "response_format" in params:
            raise ApiError(
                400,
                "unknown_parameter",
                "Unknown parameter: 'response_format'.",
                param="response_format",
            )
        unavailable = self.retired_models | (set(self.catalog.names()) - set(self.model_ids()))
        spec = find_spec(self.catalog, params, unavailable)
        call = validate(operation, params, spec, form=record.json is None)
        if operation == "edit":
            for part in record.parts:
                if part.name in ("image", "image[]") and part.filename is None:
                    raise ApiError(
                        400,
                        "invalid_type",
                        "Invalid type for 'image': expected one of an array of files or file, "
                        "but got a string instead.",
                        param="image",
                    )
            images = [_file(p) for p in record.parts if p.name in ("image", "image[]")]
            if self.refuse_lone_image_array and [p.name for p in images] == ["image[]"]:
                raise lone_image_array_error()
            masks = [_file(p) for p in record.parts if p.name == "mask"]
            check_edit_files(call, images, masks[0] if masks else None)
            markups = [_file(p) for p in record.parts if p.name == "markup"]
            if markups:
                check_markup(call, markups[0], has_mask=bool(masks))
        return call

    def _admit(self, n: int) -> None:
        """Strict IPM over a trailing 60 s window of accepted images."""
        now = self.clock()
        while self._accepted and self._accepted[0][0] <= now - IPM_WINDOW:
            self._accepted.popleft()
        if self.ipm is not None:
            used = self.images_served
            if used + n > self.ipm:
                raise ipm_error(self._accepted, used, n, self.ipm, now)
        self._accepted.append((now, n))

    def _look(self) -> Look:
        return Look(auto_quality=self.auto_quality, noise=self.noise, usage=not self.hide_usage)

    def _respond(self, call: Call, rid: str) -> web.Response:
        if self._garbles:
            self._garbles -= 1
            whole = json.dumps(json_body(call, self._look())).encode()
            return web.Response(
                body=whole[: len(whole) // 2],
                content_type="application/json",
                headers=self._ids(rid),
            )
        return web.json_response(json_body(call, self._look()), headers=self._ids(rid))

    async def _stream(self, request: web.Request, call: Call, rid: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={**self._ids(rid), "Cache-Control": "no-cache"})
        response.content_type = "text/event-stream"
        await response.prepare(request)
        error, after = self._stream_errors.popleft() if self._stream_errors else (None, 0)
        for chunk in sse_events(call, self._look(), error=error, error_after=after):
            await response.write(chunk)
        if self.sse_done and error is None:
            await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


class _RawFailureError(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__("scripted raw failure")
        self.response = response


def _file(part: RecordedPart) -> FilePart:
    return FilePart(part.name, part.content_type, part.data)
