"""Refusals end to end: private, naming the limit (and when it resets), and leaving no trace."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import Services
from tests.e2e.harness import Harness, harness
from tests.fakes.discord_messages import RecordedMessage

pytestmark = pytest.mark.e2e

RELATIVE_TIME = re.compile(r"<t:(\d+):R>")


def services(h: Harness) -> Services:
    assert h.bot is not None, "start the bot first"
    return h.bot.services


def image_requests(h: Harness) -> list[Any]:
    return [r for r in h.openai.requests if "/images/" in r.path]


async def refused(h: Harness, prompt: str, **options: Any) -> RecordedMessage:
    """The private reply to a request that must be refused before anything is made or charged."""
    jobs, calls = len(h.jobs()), len(h.ledger())
    sent = len(image_requests(h))
    handle = await h.imagine(prompt, **options)
    reply: RecordedMessage = await h.private_reply(handle)
    assert reply.ephemeral and not reply.attachments
    assert not [m for m in h.discord.channel_messages(h.channel) if prompt in m.text]
    assert (len(h.jobs()), len(h.ledger()), len(image_requests(h))) == (jobs, calls, sent)
    return reply


async def test_over_the_daily_image_quota_names_the_limit_and_its_reset(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await services(h).guilds.update_limits(h.guild.id, changed_by=h.mod.id, user_daily_images=1)
        await h.wait_result(await h.imagine("the first of today", quality="low"))

        reply = await refused(h, "one more please", quality="low")
        assert "your daily images" in reply.content
        assert "1 of 1" in reply.content
        [stamp] = RELATIVE_TIME.findall(reply.content)
        midnight = h.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
        assert datetime.fromtimestamp(int(stamp), UTC) == midnight + timedelta(days=1)

        other = await h.imagine("bob has his own quota", member=h.bob, quality="low")
        assert (await h.wait_result(other)).attachments
        h.discord.assert_no_violations()


async def test_a_retired_model_is_refused_naming_its_replacement(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        reply = await refused(h, "an old look", model="gpt-image-1", quality="low")
        assert "gpt-image-1 was retired" in reply.content
        assert "gpt-image-2" in reply.content
        h.discord.assert_no_violations()


async def test_an_unknown_model_typed_by_hand_is_refused(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        reply = await refused(h, "a new look", model="dall-e-9", quality="low")
        assert "dall-e-9" in reply.content and "not available" in reply.content
        assert "gpt-image-2" in reply.content  # what the member may use instead
        h.discord.assert_no_violations()


async def test_a_transparent_jpeg_is_refused(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        reply = await refused(
            h, "a sticker", model="gpt-image-1.5", background="transparent", format="jpeg"
        )
        assert "background" in reply.content and "png or webp" in reply.content
        # gpt-image-2 makes no transparent images at all, in any format
        reply = await refused(h, "a sticker", background="transparent", format="png")
        assert "gpt-image-2 cannot make transparent images" in reply.content
        h.discord.assert_no_violations()


async def test_a_style_or_relaxed_speed_the_server_does_not_offer_is_refused(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        reply = await refused(h, "a foggy pier", quality="low", style="Noir")
        assert "no style named Noir on this server" in reply.content
        reply = await refused(h, "a foggy harbour", quality="low", speed="relaxed")
        assert "relaxed speed is not enabled on this server" in reply.content
        fast = await h.imagine("a foggy quay", quality="low", speed="fast")
        assert (await h.wait_result(fast)).attachments
        h.discord.assert_no_violations()
