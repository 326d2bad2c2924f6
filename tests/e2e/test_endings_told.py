"""Every ending reaches its member (issue 22, case 19): a notice nobody could be shown is
recorded as not shown and sent again at start-up, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import harness
from tests.e2e.test_delivery import (
    TOKEN_EXPIRED,
    ask_job,
    finish_unposted,
    mentions_alice_in_channel,
    services,
    set_bot_permissions,
)
from tests.e2e.test_relaxed import allow_relaxed

pytestmark = pytest.mark.e2e

REFUSED = {
    "error": {
        "message": "Your request was rejected by the safety system.",
        "type": "image_generation_user_error",
        "param": None,
        "code": "moderation_blocked",
    }
}


async def test_a_failure_notice_nobody_saw_is_sent_again_at_start_up(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        h.openai.latency = 1.0
        h.openai.enqueue_failure(400, body=REFUSED)
        handle = await h.imagine("a locked room", quality="low")
        await handle.wait_response()
        set_bot_permissions(h, send_messages=False)  # the channel refuses the notice
        h.advance(TOKEN_EXPIRED)  # and the status message can no longer be edited
        await h.eventually(lambda: h.jobs()[0]["state"] == "failed", timeout=10)
        await services(h).job_queue.stop()  # delivery has finished when this returns
        assert h.jobs()[0]["delivered_at"] is None
        await h.stop_bot()

        set_bot_permissions(h, send_messages=True)
        await h.start_bot()
        told = await h.discord.wait_for_message(mentions_alice_in_channel(h, "Job #1 failed"), 10)
        assert "charged" in told.content
        await h.eventually(lambda: h.jobs()[0]["delivered_at"] is not None)
        await h.stop_bot()
        await h.start_bot()
        notices = [m for m in h.discord.channel_messages(h.channel) if "Job #1 failed" in m.text]
        assert len(notices) == 1  # told once, not at every start


async def test_a_result_nobody_could_be_shown_is_pointed_out_at_the_next_command(
    tmp_path: Path,
) -> None:
    """The token expired and the channel takes nothing from the bot: the paid image waits, and
    the member hears of it privately the next time she uses the bot, until /job sends it."""
    async with harness(tmp_path) as h:
        await h.start_bot()
        await finish_unposted(h, attach_files=False, send_messages=False)
        await h.eventually(lambda: any(v.code == 50013 for v in h.discord.violations))
        assert h.jobs()[0]["delivered_at"] is None

        h.advance(5 * 60)  # past the minutes a post may still be under way (POSTING_GRACE)
        again = await h.imagine("a key", quality="low")  # commands still work in the channel
        reminder = await again.wait_followup(lambda m: "could not be posted" in m.content, 10)
        assert reminder.ephemeral and "`/job 1`" in reminder.content
        fetched = await ask_job(h, 1)
        assert fetched.attachments
        await h.eventually(lambda: h.jobs()[0]["delivered_at"] is not None)

        later = await h.imagine("a door", quality="low")
        await later.wait_response()
        await h.wait_result(later)
        assert not [m for m in later.record.followups if "could not be posted" in m.content]


async def test_a_relaxed_result_no_channel_takes_is_sent_to_its_member_directly(
    tmp_path: Path,
) -> None:
    """The batch outlived the token and the channel takes nothing from the bot any more: the
    paid image goes to its member in a direct message (and counts as delivered)."""
    async with harness(tmp_path) as h:
        await h.start_bot()
        await allow_relaxed(h)
        h.openai.batches.hold = True
        handle = await h.imagine("a patient heron", quality="low", speed="relaxed")
        await handle.wait_original(lambda m: "is in a relaxed batch" in m.content, timeout=10)
        set_bot_permissions(h, attach_files=False, send_messages=False)
        h.advance(TOKEN_EXPIRED)
        h.openai.batches.release()
        dm = await h.discord.wait_until(
            lambda: next((m for m in h.discord.messages if m.guild_id is None and m.attachments),
                         None), 15, "a direct message with the result")  # fmt: skip
        assert "/job 1" in dm.content and not dm.buttons
        await h.eventually(lambda: h.jobs()[0]["delivered_at"] is not None)
