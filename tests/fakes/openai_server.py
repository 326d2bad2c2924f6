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
from tests.fakes.openai_moderation import moderate
from tests.fakes.openai_outputs import Look, json_body, sse_events
from tests.fakes.openai_records import (
    IPM_WINDOW,
    RecordedPart,
    RecordedRequest,
    ipm_error,
    moderation_error,
    scripted_error,
)
from tests.fakes.openai_rules import (
    ApiError,
    Call,
    FilePart,
    check_edit_files,
    find_spec,
    validate,
)

MAX_BODY = 64 * 1024 * 1024
MODERATION_TRIGGER = "MODERATION_BLOCK"
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
        ipm: int | None = None,
        clock: Callable[[], float] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.api_key = api_key
        self.ipm = ipm
        self.clock = clock or time.monotonic
        self.catalog = catalog or load_catalog()
        self.requests: list[RecordedRequest] = []
        self.retired_models: set[str] = set()
        self.noise = False
        self.auto_quality = "medium"
        self.latency = 0.0
        self.sse_done = False  # end streams with `data: [DONE]` (the real API is not known to)
        self.hide_usage = False  # answer without `usage`, as some gateways do
        self.base_url = ""
        self._failures: deque[_Failure] = deque()
        self._hangs: deque[float] = deque()
        self._drops = 0
        self._gateway_pages: deque[tuple[int, float]] = deque()
        self._garbles = 0
        self._stream_errors: deque[dict[str, Any]] = deque()
        self._accepted: deque[tuple[float, int]] = deque()
        self._count = 0
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

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

    def stream_error_next(self, code: str = "moderation_blocked", message: str = "") -> None:
        """The next streamed request sends an `error` event after its first partial image."""
        text = message or "Your request was rejected by the safety system."
        err_type = "image_generation_user_error" if code == "moderation_blocked" else "server_error"
        self._stream_errors.append({"message": text, "type": err_type, "param": None, "code": code})

    @property
    def images_served(self) -> int:
        """Images of accepted requests (what counts against IPM)."""
        return sum(n for _, n in self._accepted)

    # ---- handlers --------------------------------------------------------------------------
    async def _generations(self, request: web.Request) -> web.StreamResponse:
        return await self._images(request, "generate")

    async def _edits(self, request: web.Request) -> web.StreamResponse:
        return await self._images(request, "edit")

    async def _models(self, request: web.Request) -> web.StreamResponse:
        rid = self._next_id()
        self.requests.append(self._recorded(request))
        try:
            await self._preamble(request)
        except ApiError as err:
            return self._error(err, rid)
        except _RawFailureError as raw:
            return raw.response
        names = [n for n in self.catalog.names() if n not in self.retired_models]
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "system"} for n in names]
        return web.json_response({"object": "list", "data": data}, headers=self._ids(rid))

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
            return web.Response(status=status, body=page, content_type="text/html")
        if call.stream:
            return await self._stream(request, call, rid)
        return self._respond(call, rid)

    async def _preamble(self, request: web.Request) -> None:
        """Latency, hangs, auth and scripted failures, in the order a real server meets them."""
        if self.latency:
            await self._pause(self.latency)
        if self._hangs:
            await self._pause(self._hangs.popleft())
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            masked = (request.headers.get("Authorization", "")[7:12] or "none") + "****"
            raise ApiError(
                401,
                "invalid_api_key",
                f"Incorrect API key provided: {masked}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
            )
        if self._failures:
            self._scripted()

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
        spec = find_spec(self.catalog, params, self.retired_models)
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
            masks = [_file(p) for p in record.parts if p.name == "mask"]
            check_edit_files(call, images, masks[0] if masks else None)
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
        error = self._stream_errors.popleft() if self._stream_errors else None
        for chunk in sse_events(call, self._look(), error=error):
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
