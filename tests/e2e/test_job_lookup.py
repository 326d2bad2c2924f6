"""/job end to end: the owner gets a result again, others don't see it, moderators do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Harness, harness
from tests.fakes.discord_messages import RecordedMessage
from tests.fakes.discord_model import FakeMember

pytestmark = pytest.mark.e2e


async def ask(h: Harness, job_id: int, member: FakeMember) -> RecordedMessage:
    handle = await h.discord.slash(
        "job", {"id": job_id}, member=member, guild=h.guild, channel=h.channel
    )
    return await h.discord.wait_until(
        lambda: _private_answer(handle.record.original), 10, f"/job {job_id}"
    )


def _private_answer(message: RecordedMessage | None) -> RecordedMessage | None:
    """The reply once it is final: text, or the result with its images (not "thinking…")."""
    if message is None or message.loading:
        return None
    return message


async def test_job_sends_the_owner_their_images_again_privately(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        result = await h.wait_result(await h.imagine("a paper crane", quality="low"))

        again = await ask(h, 1, h.alice)
        assert again.ephemeral
        assert "a paper crane" in again.text and "Job #1" in again.text
        assert [a.data for a in again.attachments] == [a.data for a in result.attachments]

        hidden = await ask(h, 1, h.bob)
        assert hidden.ephemeral and not hidden.attachments
        assert "can't find job #1" in hidden.content
        assert "paper crane" not in hidden.text

        seen = await ask(h, 1, h.mod)
        assert seen.ephemeral and seen.attachments and "a paper crane" in seen.text
        h.discord.assert_no_violations()


async def test_job_shows_a_queued_jobs_position(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot(openai_ipm=1)  # one image a minute: the second job waits
        await h.wait_result(await h.imagine("a busy street", member=h.bob, quality="low"))
        waiting = await h.imagine("a quiet field", quality="low")
        await waiting.wait_original(lambda m: "next in line" in m.content)

        status = await ask(h, 2, h.alice)
        assert status.ephemeral and not status.attachments
        assert "**#2** queued (position 1)" in status.content
        assert "a quiet field" in status.content

        missing = await ask(h, 99, h.alice)
        assert "can't find job #99" in missing.content
        h.discord.assert_no_violations()


async def test_job_of_a_refused_prompt_says_it_failed_and_cost_nothing(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        blocked = await h.imagine("MODERATION_BLOCK a thing", quality="low")
        await h.private_notice(blocked)

        status = await ask(h, 1, h.alice)
        assert "**#1** failed" in status.content
        assert "cost $0.00" in status.content and "up to" not in status.content
        h.discord.assert_no_violations()
