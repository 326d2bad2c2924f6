"""The HEALTHCHECK probe: 0 only for a 200 from /readyz; the reason otherwise."""

from __future__ import annotations

import asyncio
import socket

from bot.ops import probe as probe_module, readiness
from bot.ops.probe import probe


def test_no_port_says_so() -> None:
    assert probe({}) == (1, "HTTP_PORT is not set: the bot serves no /readyz")


async def _serve(status: int, body: bytes) -> tuple[asyncio.Server, int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_ready_is_0_and_not_ready_is_1_with_the_reason() -> None:
    for status, body, code in ((200, b'{"status": "ready"}', 0), (503, b'{"reason": "x"}', 1)):
        server, port = await _serve(status, body)
        async with server:
            env = {"HTTP_PORT": str(port), "HTTP_HOST": "0.0.0.0"}
            assert await asyncio.to_thread(probe, env) == (code, body.decode())


def test_nothing_listening_is_1() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, line = probe({"HTTP_PORT": str(port)})
    assert code == 1 and line.startswith(f"no answer from http://127.0.0.1:{port}/readyz")


def test_readiness_answers_before_the_health_check_gives_up() -> None:
    # /readyz waits for the database, then for the provider's probe; the check waits TIMEOUT.
    assert readiness.DB_TIMEOUT + readiness.PROBE_TIMEOUT < probe_module.TIMEOUT
