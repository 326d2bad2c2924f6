"""The fake OpenAI server's fault injection: scripted errors, hangs, drops, proxy pages, garbles."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.openai_http import ids
from tests.fakes.openai_records import scripted_error

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


# Marks a scripted stream error to be sent in the spec's flat shape (openai_outputs.sse_events).
FLAT = "_flat"


class RawFailureError(Exception):
    """A scripted failure answered with a raw body instead of the API's envelope."""

    def __init__(self, response: web.Response) -> None:
        super().__init__("scripted raw failure")
        self.response = response


class Faults:
    """What the next requests suffer, in the order a real server meets them."""

    def __init__(self) -> None:
        self.closing = asyncio.Event()
        self._failures: deque[_Failure] = deque()
        self._hangs: deque[float] = deque()
        self._holds: deque[asyncio.Event] = deque()
        self._drops = 0
        self._gateway_pages: deque[tuple[int, float]] = deque()
        self._garbles = 0
        self._stream_errors: deque[tuple[dict[str, Any], int]] = deque()

    # ---- scripting (the test-facing API, through FakeOpenAI) --------------------------------
    def enqueue_failure(
        self,
        status: int = 500,
        code: str | None = None,
        times: int = 1,
        retry_after: float | None = None,
        body: bytes | str | dict[str, Any] | None = None,
    ) -> None:
        self._failures.append(_Failure(status, code, times, retry_after, body))

    def hang_next(self, seconds: float) -> None:
        self._hangs.append(seconds)

    def hold_next(self) -> asyncio.Event:
        gate = asyncio.Event()
        self._holds.append(gate)
        return gate

    def drop_next(self) -> None:
        self._drops += 1

    def gateway_page_next(self, status: int = 504, after: float = 1.0) -> None:
        self._gateway_pages.append((status, after))

    def garble_next(self) -> None:
        self._garbles += 1

    def stream_error_next(
        self,
        code: str = "moderation_blocked",
        message: str = "",
        *,
        after_partials: int = 1,
        flat: bool = False,
    ) -> None:
        text = message or "Your request was rejected by the safety system."
        err_type = "image_generation_user_error" if code == "moderation_blocked" else "server_error"
        error: dict[str, Any] = {"message": text, "type": err_type, "param": None, "code": code}
        if flat:  # the spec's error event: its fields flat in `data`, no `error` object
            error[FLAT] = True
        self._stream_errors.append((error, after_partials))

    # ---- used by the endpoints --------------------------------------------------------------
    async def pause(self, seconds: float) -> None:
        """Wait (real time), cut short when the server closes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), timeout=seconds)

    async def until(self, gate: asyncio.Event) -> None:
        """Wait until the test opens `gate`, cut short when the server closes."""
        waits = [asyncio.ensure_future(gate.wait()), asyncio.ensure_future(self.closing.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def drop_if_scripted(self, request: web.Request) -> None:
        """Close the connection without an answer when a drop is scripted."""
        if not self._drops:
            return
        self._drops -= 1
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError

    async def preamble(
        self, latency: float, check_key: Callable[[], None], rid: str, model: str | None = None
    ) -> None:
        """Latency, hangs and holds, the key, then scripted failures (naming the request's
        `model`)."""
        if latency:
            await self.pause(latency)
        if self._hangs:
            await self.pause(self._hangs.popleft())
        if self._holds:
            await self.until(self._holds.popleft())
        check_key()
        if self._failures:
            self._scripted(rid, model)

    def take_gateway_page(self) -> tuple[int, float] | None:
        return self._gateway_pages.popleft() if self._gateway_pages else None

    def take_garble(self) -> bool:
        if not self._garbles:
            return False
        self._garbles -= 1
        return True

    def take_stream_error(self) -> tuple[dict[str, Any] | None, int]:
        return self._stream_errors.popleft() if self._stream_errors else (None, 0)

    def _scripted(self, rid: str, model: str | None) -> None:
        failure = self._failures[0]
        failure.times -= 1
        if failure.times <= 0:
            self._failures.popleft()
        if failure.body is not None:
            headers = ids(rid)
            if failure.retry_after is not None:
                headers["Retry-After"] = str(failure.retry_after)
            body = failure.body
            text = json.dumps(body) if isinstance(body, dict) else body
            raw = text.encode() if isinstance(text, str) else text
            response = web.Response(
                status=failure.status, body=raw, content_type="application/json", headers=headers
            )
            raise RawFailureError(response)
        retry_after = None if failure.retry_after is None else math.ceil(failure.retry_after)
        raise scripted_error(failure.status, failure.code, retry_after, model)
