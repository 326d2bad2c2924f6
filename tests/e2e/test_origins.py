"""Delivery from a process that did not admit the job (issue 20): with DATABASE_URL set, the
member's own reply is edited over REST with the job's status and then its result; past the
token's 15 minutes, and with SQLite after a restart, the channel gets a mention as before."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.ops.logs import RedactingFilter
from cogs import _flow
from tests.e2e.harness import Harness, harness
from tests.fakes.discord_interactions import InteractionHandle
from tests.fakes.discord_messages import RecordedMessage
from tests.pg import PostgresServer

pytestmark = pytest.mark.e2e

TOKEN_EXPIRED = 16 * 60  # seconds: past an interaction token's 15 minutes
OUR_LOGGERS = ("bot", "cogs")


def pg_count(url: str, sql: str) -> int:
    """One number read through a separate connection, as an operator would."""
    with psycopg.connect(url) as conn:
        row = conn.execute(sql.encode()).fetchone()
    assert row is not None
    return int(row[0])


@asynccontextmanager
async def world(tmp_path: Path, pg: PostgresServer | None) -> AsyncIterator[tuple[Harness, str]]:
    """A harness on a fresh PostgreSQL database (cluster mode), or on SQLite when `pg` is None."""
    url = pg.new_database() if pg is not None else ""
    overrides: dict[str, Any] = {"database_url": url} if url else {}
    try:
        async with harness(tmp_path, **overrides) as h:
            h.openai.ipm = 1  # the provider counts 1 image a minute
            h.openai.clock = h.clock.monotonic
            yield h, url
    finally:
        if pg is not None:
            pg.drop_database(url)


async def admit_then_stop(h: Harness, url: str = "") -> tuple[InteractionHandle, RecordedMessage]:
    """Alice's job is admitted and waits behind Bob's (one image a minute); then the process
    that admitted it stops, its memory of her interaction with it. On PostgreSQL (`url`) the
    command has stored her interaction's origin first."""
    await h.start_bot(openai_ipm=1)
    await h.wait_result(await h.imagine("a busy street", member=h.bob, quality="low"))
    handle = await h.imagine("a quiet field", quality="low")
    waiting = await handle.wait_original(lambda m: "Job #2 is next in line" in m.content)
    if url:
        stored = "SELECT COUNT(*) FROM interaction_origins WHERE job_id = 2"
        await h.eventually(lambda: pg_count(url, stored) == 1)
    await h.stop_bot()
    return handle, waiting


def pings_alice(h: Harness) -> Callable[[RecordedMessage], bool]:
    def check(message: RecordedMessage) -> bool:
        return message.channel_id == h.channel.id and f"user:{h.alice.id}" in message.pings

    return check


def our_lines(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name.split(".")[0] in OUR_LOGGERS)


def written_lines(caplog: pytest.LogCaptureFixture) -> str:
    """Every record, discord.py's DEBUG lines too, as the bot's log handler writes it."""
    redact = RedactingFilter([]).redact
    return "\n".join(redact(r.getMessage()) for r in caplog.records)


async def test_another_process_edits_the_members_reply_with_status_then_result(
    tmp_path: Path, pg_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with world(tmp_path, pg_server) as (h, url):
        handle, waiting = await admit_then_stop(h, url)
        h.openai.latency = 4.0  # long enough to see it rendering
        h.advance(61)  # a new minute
        await h.start_bot(openai_ipm=1)  # another process: it resumes the queued job
        await handle.wait_original(lambda m: "Rendering job #2" in m.content, 8)
        result = await h.wait_result(handle, timeout=10)
        assert result.id == waiting.id  # her own reply became the result
        assert handle.original is result and not result.ephemeral
        assert not [m for m in h.discord.channel_messages(h.channel) if pings_alice(h)(m)]
        await h.eventually(
            lambda: pg_count(url, "SELECT COUNT(*) FROM interaction_origins") == 0
        )  # the job ended: its token is deleted
        assert handle.token not in our_lines(caplog)
        assert handle.token not in written_lines(caplog)
        h.discord.assert_no_violations()


async def test_a_private_status_stays_private_and_the_result_comes_publicly(
    tmp_path: Path, pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow admission deferred privately: the other process edits that private status, and
    posts the result as a new public message (as the admitting process would)."""
    monkeypatch.setattr(_flow, "ACK_BUDGET", 0.0)  # every admission is "slow"
    async with world(tmp_path, pg_server) as (h, url):
        handle, waiting = await admit_then_stop(h, url)
        assert waiting.ephemeral
        h.advance(61)
        await h.start_bot(openai_ipm=1)
        result = await h.wait_result(handle, timeout=10)
        assert result in handle.followups and not result.ephemeral
        assert f"<@{h.alice.id}>" in result.content
        ready = await handle.wait_original(lambda m: "Job #2 is ready" in m.content)
        assert ready.id == waiting.id and ready.ephemeral and not ready.attachments
        h.discord.assert_no_violations()


async def test_past_the_tokens_life_another_process_mentions_the_member(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    async with world(tmp_path, pg_server) as (h, url):
        handle, waiting = await admit_then_stop(h, url)
        h.advance(TOKEN_EXPIRED)
        await h.start_bot(openai_ipm=1)
        message = await h.discord.wait_until(
            lambda: next(
                (m for m in h.discord.channel_messages(h.channel) if pings_alice(h)(m)), None
            ),
            10,
            "a mention of Alice with her result",
        )
        assert message.attachments and message.id != waiting.id
        assert handle.original is not None and not handle.original.attachments
        h.discord.assert_no_violations()


async def test_with_sqlite_a_restart_still_mentions_the_member(tmp_path: Path) -> None:
    async with world(tmp_path, None) as (h, _):
        handle, waiting = await admit_then_stop(h)
        h.advance(61)
        await h.start_bot(openai_ipm=1)
        message = await h.discord.wait_until(
            lambda: next(
                (m for m in h.discord.channel_messages(h.channel) if pings_alice(h)(m)), None
            ),
            10,
            "a mention of Alice with her result",
        )
        assert message.attachments and message.id != waiting.id
        assert handle.original is not None and not handle.original.attachments
