"""Delivery end to end: a result that cannot be posted is kept, fetched with /job, and posted
after a restart; a job in flight when the bot stops is never sent twice and its member is told."""

from __future__ import annotations

import io
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import discord
import pytest
from PIL import Image

from bot.app import Services
from tests.e2e.harness import Harness, harness
from tests.fakes.discord_messages import RecordedMessage
from tests.fakes.discord_ops import ChannelOps

pytestmark = pytest.mark.e2e

TOKEN_EXPIRED = 16 * 60  # seconds: past an interaction token's 15 minutes


def services(h: Harness) -> Services:
    assert h.bot is not None, "start the bot first"
    return h.bot.services


def mentions_alice_in_channel(h: Harness, *words: str) -> Callable[[RecordedMessage], bool]:
    """A public message from the bot in #general that pings Alice and says all of `words`."""

    def check(message: RecordedMessage) -> bool:
        return (
            message.channel_id == h.channel.id
            and not message.ephemeral
            and message.author.id == h.discord.bot_user.id
            and f"<@{h.alice.id}>" in message.content
            and all(word in message.text for word in words)
        )

    return check


def set_bot_permissions(h: Harness, **values: bool) -> None:
    """Give or take channel permissions (from @everyone too: the bot inherits it)."""
    for role in (h.discord.bot_role(h.guild), h.guild.everyone):
        permissions = discord.Permissions(role.permissions)
        permissions.update(**values)
        h.discord.update_role(role, permissions=permissions)


def kept_results(h: Harness) -> list[Path]:
    return sorted(p for p in Path(h.settings.data_dir).rglob("*") if p.is_file())


async def ask_job(h: Harness, job_id: int) -> RecordedMessage:
    handle = await h.discord.slash(
        "job", {"id": job_id}, member=h.alice, guild=h.guild, channel=h.channel
    )
    return await handle.wait_original(lambda m: not m.loading and bool(m.attachments), 10)


async def finish_unposted(h: Harness, **denied: bool) -> None:
    """Alice's job finishes after her token expired, in a channel where the bot lost `denied`."""
    answer = h.openai.hold_next()  # the provider answers only once the scene is set
    handle = await h.imagine("a locked room", quality="low")
    await handle.wait_response()
    await h.eventually(lambda: image_requests(h) == ["a locked room"])
    set_bot_permissions(h, **denied)
    h.advance(TOKEN_EXPIRED)
    answer.set()
    await h.eventually(lambda: h.jobs()[0]["state"] == "succeeded", timeout=10)


async def test_a_result_that_cannot_be_posted_is_kept_for_job(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await finish_unposted(h, attach_files=False)
        told = await h.discord.wait_for_message(mentions_alice_in_channel(h, "/job 1"), 10)
        assert "kept" in told.content and not told.attachments
        await services(h).job_queue.stop()  # delivery has finished when this returns

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
        await finish_unposted(h, send_messages=False, attach_files=False)
        await h.stop_bot()
        assert h.jobs()[0]["delivered_at"] is None

        set_bot_permissions(h, send_messages=True, attach_files=True)
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
        await services(h).job_queue.stop(grace=0.2)
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
        await services(h).job_queue.stop(grace=0.2)
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


def snapshot_database(h: Harness) -> Path:
    """A consistent copy of the committed database, as a killed process leaves it."""
    path = Path(h.settings.database_path)
    copy = path.with_name("crashed.sqlite3")
    source, target = sqlite3.connect(path), sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return copy


def restore_database(h: Harness, copy: Path) -> None:
    path = Path(h.settings.database_path)
    for stale in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    shutil.copyfile(copy, path)


async def test_a_result_whose_status_message_was_deleted_is_posted_in_the_channel(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        h.openai.latency = 0.5
        handle = await h.imagine("a tidy channel", quality="low")
        status = await handle.wait_original()
        # A moderator tidies the channel while the job renders.
        await ChannelOps(h.discord.state).delete(status.channel_id, status.id)
        posted = await h.discord.wait_for_message(
            lambda m: mentions_alice_in_channel(h, "a tidy channel")(m) and bool(m.attachments),
            timeout=10,
        )
        assert {b["label"] for b in posted.buttons} == {"Re-roll", "Edit", "Delete"}
        await h.eventually(lambda: h.jobs()[0]["result_message_id"] == posted.id)


async def test_a_failure_whose_status_message_was_deleted_is_told_in_the_channel(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        h.openai.latency = 0.5
        h.openai.enqueue_failure(400, "invalid_value")  # a failure told in public
        handle = await h.imagine("a tidy channel", quality="low")
        status = await handle.wait_original()
        await ChannelOps(h.discord.state).delete(status.channel_id, status.id)
        told = await h.discord.wait_for_message(
            mentions_alice_in_channel(h, "Job #1 failed"), timeout=10
        )
        assert not told.attachments
