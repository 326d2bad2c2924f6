"""/queue end to end: your waiting jobs with positions, a Cancel button per job, who may cancel."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.e2e.harness import Harness, harness
from tests.fakes.discord_interactions import InteractionHandle
from tests.fakes.discord_messages import RecordedMessage
from tests.fakes.discord_model import FakeMember

pytestmark = pytest.mark.e2e


def waiting(message: RecordedMessage) -> bool:
    return "next in line" in message.content or "position" in message.content


async def fill_the_minute(h: Harness) -> None:
    """With OPENAI_IPM=1, Bob's job takes this minute's only image: later jobs wait."""
    await h.wait_result(await h.imagine("a busy street", member=h.bob, quality="low"))


async def queue_two(h: Harness) -> tuple[InteractionHandle, InteractionHandle]:
    one = await h.imagine("a quiet field", quality="low")
    two = await h.imagine("a dark forest", quality="low")
    for handle in (one, two):
        await handle.wait_original(waiting)
    return one, two


async def list_queue(h: Harness, member: FakeMember) -> RecordedMessage:
    handle = await h.discord.slash("queue", {}, member=member, guild=h.guild, channel=h.channel)
    reply: RecordedMessage = await h.private_reply(handle)
    return reply


def sent_prompts(h: Harness) -> list[str]:
    return [r.params.get("prompt", "") for r in h.openai.requests if "/images/" in r.path]


def job_row(h: Harness, job_id: int) -> sqlite3.Row:
    return next(row for row in h.jobs() if row["id"] == job_id)


async def test_queue_lists_my_jobs_and_cancel_removes_one(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot(openai_ipm=1)
        await fill_the_minute(h)
        one, two = await queue_two(h)

        listing = await list_queue(h, h.alice)
        assert "2 jobs queued in this server" in listing.content
        assert (
            "**#2** queued (position 1)" in listing.content and "a quiet field" in listing.content
        )
        assert (
            "**#3** queued (position 2)" in listing.content and "a dark forest" in listing.content
        )
        assert [b["label"] for b in listing.buttons] == ["Cancel #2", "Cancel #3"]

        refused = await h.discord.click(listing, member=h.bob, label="Cancel #2")
        reply = await h.private_reply(refused)
        assert "not allowed" in reply.content
        assert job_row(h, 2)["state"] == "queued"

        h.advance(61)  # the next minute: the queue may move once something wakes it
        cancel = await h.discord.click(listing, member=h.alice, label="Cancel #3")
        told = await h.private_reply(cancel)
        assert "Cancelled job #3" in told.content
        await two.wait_original(lambda m: "cancelled" in m.content)
        row = job_row(h, 3)
        assert (row["state"], row["charged_micro_usd"], row["charged_images"]) == (
            "cancelled",
            0,
            0,
        )

        await h.wait_result(one)  # the job left in the queue goes out...
        assert "a dark forest" not in sent_prompts(h)  # ...the cancelled one never does
        assert "a quiet field" in sent_prompts(h)
        assert [r["job_id"] for r in h.ledger()] == [1, 2]
        h.discord.assert_no_violations()


async def test_a_moderator_sees_and_cancels_anyones_queued_job(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot(openai_ipm=1)
        await fill_the_minute(h)
        one, _ = await queue_two(h)

        bobs = await list_queue(h, h.bob)
        assert "You have no jobs waiting" in bobs.content and not bobs.buttons

        listing = await list_queue(h, h.mod)
        assert "2 jobs queued in this server" in listing.content
        assert f"<@{h.alice.id}>" in listing.content
        cancel = await h.discord.click(listing, member=h.mod, label="Cancel #2")
        assert "Cancelled job #2" in (await h.private_reply(cancel)).content
        await one.wait_original(lambda m: "cancelled" in m.content)
        assert job_row(h, 2)["state"] == "cancelled"
        assert job_row(h, 3)["state"] == "queued"
        h.discord.assert_no_violations()
