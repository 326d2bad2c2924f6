"""A small HTTP/1.1 server on the bot's event loop: /healthz, /readyz, /metrics (GET only).

Built on asyncio streams: the core stays free of discord.py's aiohttp (tests/test_architecture.py),
and three read-only routes need no framework. Each connection serves one request, then closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST

from bot.ops.readiness import Readiness

log = logging.getLogger(__name__)

READ_TIMEOUT = 5.0  # a client that sends no request line and headers in this long is dropped
MAX_HEADER_LINES = 100
REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


class OpsServer:
    """Serves the three routes on HTTP_HOST:HTTP_PORT until `close()`."""

    def __init__(self, readiness: Readiness, metrics: Callable[[], Awaitable[bytes]]) -> None:
        self._readiness = readiness
        self._metrics = metrics
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, host, port)
        log.info("serving /healthz, /readyz and /metrics on http://%s:%d", host, port)

    @property
    def port(self) -> int | None:
        """The bound port (useful when started on port 0)."""
        if self._server is None or not self._server.sockets:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path = await asyncio.wait_for(_read_request(reader), READ_TIMEOUT)
            reply = await self._route(method, path)
            await _write(writer, reply, head_only=method == "HEAD")
        except (TimeoutError, ValueError, ConnectionError, asyncio.IncompleteReadError):
            pass  # a malformed or abandoned request gets no answer
        except Exception:
            log.exception("the ops server failed on a request")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _route(self, method: str, path: str) -> Reply:
        path = path.split("?", 1)[0]
        if path not in ("/healthz", "/readyz", "/metrics"):
            return Reply(404, b'{"error": "not found"}')
        if method not in ("GET", "HEAD"):
            return Reply(405, b'{"error": "GET only"}')
        if path == "/healthz":
            return Reply(200, b'{"status": "ok"}')
        if path == "/metrics":
            return Reply(200, await self._metrics(), CONTENT_TYPE_LATEST)
        verdict = await self._readiness.check()
        if verdict.ready:
            return Reply(200, b'{"status": "ready"}')
        body = json.dumps({"status": "not ready", "reason": verdict.reason})
        return Reply(503, body.encode())


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    parts = (await reader.readline()).decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ValueError("not an HTTP request line")
    for _ in range(MAX_HEADER_LINES):  # the headers are read and ignored; no body is expected
        if (await reader.readline()) in (b"\r\n", b"\n", b""):
            return parts[0], parts[1]
    raise ValueError("too many header lines")


async def _write(writer: asyncio.StreamWriter, reply: Reply, *, head_only: bool) -> None:
    head = (
        f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, '')}\r\n"
        f"Content-Type: {reply.content_type}\r\n"
        f"Content-Length: {len(reply.body)}\r\n"
        "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + (b"" if head_only else reply.body))
    await writer.drain()
