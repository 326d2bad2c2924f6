"""Community safety end to end: blocklist, screening, cool-downs, spoilers and alt text."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Harness, harness, png, slash
from tests.fakes.discord_messages import RecordedMessage
from tests.fakes.discord_model import FakeMember

pytestmark = pytest.mark.e2e

RELATIVE_TIME = re.compile(r"<t:(\d+):R>")


async def moderator(h: Harness, name: str, sub: str, **options: Any) -> str:
    """A moderator's command; its private reply's text."""
    handle = await slash(h, name, h.mod, sub, **options)
    reply = await handle.wait_original(timeout=5)
    assert reply.ephemeral
    return str(reply.text)


def field(message: RecordedMessage, name: str) -> str:
    for embed in message.embeds:
        for f in embed.get("fields", []):
            if f["name"] == name:
                return str(f["value"])
    raise AssertionError(f"no field {name!r} in {message.embeds}")


async def refused(h: Harness, prompt: str, member: FakeMember | None = None, **options: Any):
    """The private reply to a request refused before anything was reserved or made."""
    jobs, calls, images = len(h.jobs()), len(h.ledger()), len(h.openai.image_requests)
    handle = await h.imagine(prompt, member=member, quality="low", **options)
    reply: RecordedMessage = await h.private_reply(handle)
    assert reply.ephemeral and not reply.attachments
    assert (len(h.jobs()), len(h.ledger()), len(h.openai.image_requests)) == (jobs, calls, images)
    return reply


async def edit(h: Harness, prompt: str, image: bytes):
    upload = h.upload("input.png", image, "image/png")
    return await h.discord.slash(
        "edit",
        {"prompt": prompt, "quality": "low", "image": upload},
        member=h.alice,
        guild=h.guild,
        channel=h.channel,
    )


async def test_blocklisted_words_are_refused_even_disguised_and_nothing_is_sent(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        log_channel = h.private_channel("image-log")  # public ones get no refused prompts
        await h.start_bot()
        await moderator(h, "config", "set", log_channel=log_channel)
        text = await moderator(h, "blocklist", "add", words="gore, bad thing")
        assert "Blocked “gore”, “bad thing”" in text

        reply = await refused(h, "ＧＯＲＥ everywhere")  # fullwidth letters
        assert "“gore”" in reply.content and "nothing was made or charged" in reply.content
        reply = await refused(h, "so much g\u200bore")  # a zero-width space inside
        assert "“gore”" in reply.content
        reply = await refused(h, "the Bad-Thing", member=h.bob)
        assert "“bad thing”" in reply.content
        assert h.openai.image_requests + h.openai.moderation_requests == []  # not even moderation

        line = await h.discord.wait_for_message(
            lambda m: m.channel_id == log_channel.id and "g\u200bore" in m.content, timeout=10
        )
        assert f"<@{h.alice.id}>" in line.content and "blocklist (“gore”)" in line.content

        # Whole words only: "gorgeous" holds "gor" and "gore" is not a word of it.
        assert (await h.wait_result(await h.imagine("a gorgeous gorge", quality="low"))).attachments

        usage = await slash(h, "usage", h.mod, period="today")
        report = await usage.wait_original(lambda m: bool(m.embeds), timeout=15)
        assert field(report, "Refused (safety)").startswith("3\n")
        assert "blocklist 3" in field(report, "Refused (safety)")

        shown = await moderator(h, "blocklist", "show")
        assert "`bad thing`" in shown and "`gore`" in shown
        assert "Unblocked “gore”" in await moderator(h, "blocklist", "remove", words="GORE")
        assert (await h.wait_result(await h.imagine("gore", member=h.bob, quality="low"))).embeds

        member = await slash(h, "blocklist", h.alice, "add", override_permissions=True, words="x")
        assert "Manage Server" in (await h.private_reply(member)).content
        h.discord.assert_no_violations()


async def test_screening_refuses_flagged_prompts_and_edit_inputs_before_any_image_request(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        assert "Settings updated" in await moderator(
            h, "config", "set", screening="prompts_and_images"
        )

        reply = await refused(h, "SCREEN_VIOLENCE in the streets")
        assert "flagged your prompt for violence" in reply.content
        assert "nothing was charged" in reply.content
        assert len(h.openai.moderation_requests) == 1

        flagged = await edit(h, "make it brighter", png(colour="#e60a0a"))
        reply = await h.private_reply(flagged)
        assert "flagged your image 1 for violence and graphic violence" in reply.content
        assert h.openai.image_requests == [] and h.jobs() == []
        sent = h.openai.moderation_requests[-1].json["input"]  # type: ignore[index]
        assert sent[0] == {"type": "text", "text": "make it brighter"}
        assert sent[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")

        fine = await edit(h, "make it brighter", png(colour="#0a0ae6"))
        assert (await h.wait_result(fine)).attachments
        assert len(h.openai.image_requests) == 1
        assert len(h.openai.moderation_requests) == 5  # prompt, prompt+image, x2, prompt

        h.openai.enqueue_failure(503)  # the moderation endpoint is down: fail closed
        reply = await refused(h, "a quiet harbour")
        assert "not answering" in reply.content and "nothing was sent or charged" in reply.content
        h.discord.assert_no_violations()


async def test_repeated_refusals_cool_a_member_down_and_moderators_see_it(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await moderator(h, "blocklist", "add", words="gore")
        await refused(h, "gore 1")
        await refused(h, "gore 2")
        third = await refused(h, "gore 3")
        assert "After repeated refusals you can make images again" in third.content
        [stamp] = RELATIVE_TIME.findall(third.content)
        until = datetime.fromtimestamp(int(stamp), UTC)

        paused = await refused(h, "a harmless kitten")
        assert "you need to pause" in paused.content and f"<t:{stamp}:R>" in paused.content
        assert (await h.wait_result(await h.imagine("bob is fine", member=h.bob))).attachments

        usage = await slash(h, "usage", h.mod, period="today")
        report = await usage.wait_original(lambda m: bool(m.embeds), timeout=15)
        assert f"<@{h.alice.id}>" in field(report, "Cooling down")

        h.advance((until - h.clock.now()).total_seconds() + 1)
        again = await h.imagine("a harmless kitten")
        assert "Job #2" in (await again.wait_original(timeout=5)).content  # admitted
        await h.eventually(lambda: h.jobs()[-1]["state"] == "succeeded", timeout=10)
        h.discord.assert_no_violations()


async def test_results_carry_alt_text_and_spoilers_when_the_server_wants_them(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        plain = await h.wait_result(await h.imagine("a fox in the snow", quality="low"))
        [file] = plain.attachments
        assert file.description == "Generated image: a fox in the snow" and not file.spoiler

        await moderator(h, "config", "set", spoilers=True)
        long_prompt = "a very detailed scene " * 180  # 3960 characters
        result = await h.wait_result(await h.imagine(long_prompt, quality="low", count=2))
        assert len(result.attachments) == 2
        for file in result.attachments:
            assert file.spoiler and file.filename.startswith("SPOILER_")
            assert file.description is not None
            assert file.description.startswith("Generated image: a very detailed scene")
            assert len(file.description) <= 1024
        h.discord.assert_no_violations()
