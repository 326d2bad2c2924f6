"""Delivery end to end: a result that cannot be posted is kept, fetched with /job, and posted
after a restart; a job in flight when the bot stops is never sent twice and its member is told."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import discord
import pytest
from PIL import Image

from tests.e2e.harness import Harness, harness
from tests.fakes.discord_messages import RecordedMessage

pytestmark = pytest.mark.e2e

TOKEN_EXPIRED = 16 * 60  # seconds: past an interaction token's 15 minutes


def mentions_alice_in_channel(h: Harness, *words: str):
    def check(message: RecordedMessage) -> bool:
        return (
            message.channel_id == h.channel.id
            and not message.ephemeral
            and message.author.id == h.discord.bot_user.id
            and f"<@{h.alice.id}>" in message.content
            and all(word in message.text for word in words)
        )

    return check


def set_bot_posting(h: Harness, *, allowed: bool) -> None:
    """Give or take Send Messages and Attach Files (from @everyone too: the bot inherits it)."""
    for role in (h.discord.bot_role(h.guild), h.guild.everyone):
        permissions = discord.Permissions(role.permissions)
        permissions.update(send_messages=allowed, attach_files=allowed)
        h.discord.update_role(role, permissions=permissions)


def kept_results(h: Harness) -> list[Path]:
    return sorted(p for p in Path(h.settings.data_dir).rglob("*") if p.is_file())


async def ask_job(h: Harness, job_id: int) -> RecordedMessage:
    handle = await h.discord.slash(
        "job", {"id": job_id}, member=h.alice, guild=h.guild, channel=h.channel
    )
    return await handle.wait_original(lambda m: not m.loading and bool(m.attachments), 10)


async def finish_unposted(h: Harness) -> None:
    """Alice's job finishes after her token expired, in a channel the bot may no longer post in."""
    h.openai.latency = 1.0
    handle = await h.imagine("a locked room", quality="low")
    await handle.wait_response()
    set_bot_posting(h, allowed=False)
    h.advance(TOKEN_EXPIRED)
    await h.eventually(lambda: h.jobs()[0]["state"] == "succeeded", timeout=10)
    h.openai.latency = 0.0


async def test_a_result_that_cannot_be_posted_is_kept_for_job(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await finish_unposted(h)
        await h.bot.services.jobs.stop()  # let delivery finish its attempt  # type: ignore[union-attr]

        [job] = h.jobs()
        assert job["delivered_at"] is None and job["result_message_id"] is None
        files = kept_results(h)
        assert len(files) == 1
        assert not [m for m in h.discord.channel_messages(h.channel) if m.attachments]
        assert {v.code for v in h.discord.violations} == {50013}  # the refused post

        await h.stop_bot()
        await h.start_bot()
        again = await ask_job(h, 1)
        assert again.ephemeral
        [image] = again.attachments
        assert Image.open(io.BytesIO(image.data)).size == Image.open(files[0]).size


async def test_an_undelivered_result_is_posted_after_a_restart(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await finish_unposted(h)
        await h.stop_bot()
        assert h.jobs()[0]["delivered_at"] is None

        set_bot_posting(h, allowed=True)
        await h.start_bot()
        posted = await h.discord.wait_for_message(
            lambda m: mentions_alice_in_channel(h, "a locked room")(m) and bool(m.attachments),
            timeout=10,
        )
        await h.eventually(lambda: h.jobs()[0]["result_message_id"] == posted.id)
        assert len(h.ledger()) == 1  # posted, not made again



def image_requests(h: Harness) -> list[str]:
    return [r.params.get("prompt", "") for r in h.openai.requests if "/images/" in r.path]



async def next_job_goes_alone(h: Harness) -> None:
    """After a restart, a new job is made, and nothing queued before it is sent."""
    before = len(image_requests(h))
    await h.wait_result(await h.imagine("a fresh start", member=h.bob, quality="low"))
    assert image_requests(h)[before:] == ["a fresh start"]


async def test_a_job_in_flight_at_a_clean_stop_is_unknown_and_never_sent_again(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        h.openai.hang_next(60)
        handle = await h.imagine("a long exposure", quality="low")
        await h.eventually(lambda: image_requests(h) == ["a long exposure"])
        # A clean stop whose grace period runs out before OpenAI answers (30 s in production).
        await h.bot.services.jobs.stop(grace=0.2)  # type: ignore[union-attr]
        told = await handle.wait_original(lambda m: "lost track of job #1" in m.content)
        assert "won't pay twice" in told.content
        await h.stop_bot()
        [job] = h.jobs()
        assert job["state"] == "unknown"
        assert job["charged_micro_usd"] == job["estimated_micro_usd"] > 0  # it may be billed

        await h.start_bot()
        await next_job_goes_alone(h)
        assert h.jobs()[0]["state"] == "unknown"
        h.discord.assert_no_violations()


async def test_a_job_in_flight_when_the_process_died_is_unknown_after_restart(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        h.openai.hang_next(60)
        await h.imagine("a long exposure", quality="low")
        await h.eventually(lambda: image_requests(h) == ["a long exposure"])
        assert h.jobs()[0]["state"] == "running"
        crashed = snapshot_database(h)  # what a killed process leaves on disk
        await h.bot.services.jobs.stop(grace=0.2)  # type: ignore[union-attr]
        await h.stop_bot()
        restore_database(h, crashed)
        assert h.jobs()[0]["state"] == "running"

        await h.start_bot()
        notice = await h.discord.wait_for_message(
            mentions_alice_in_channel(h, "lost track of job #1"), timeout=10
        )
        assert not notice.attachments
        assert h.jobs()[0]["state"] == "unknown"
        await next_job_goes_alone(h)
        h.discord.assert_no_violations()


def snapshot_database(h: Harness) -> bytes:
    source = sqlite3.connect(h.settings.database_path)
    target = sqlite3.connect(":memory:")
    try:
        source.backup(target)
        return target.serialize()
    finally:
        source.close()
        target.close()


def restore_database(h: Harness, data: bytes) -> None:
    path = Path(h.settings.database_path)
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    memory = sqlite3.connect(":memory:")
    memory.deserialize(data)
    target = sqlite3.connect(path)
    try:
        memory.backup(target)
    finally:
        memory.close()
        target.close()
