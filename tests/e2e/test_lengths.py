"""Discord's length limits and plain wording (issue 22, cases 14, 15 and 24): long queues and
change histories fit, settings read as the options moderators type, counts agree in number."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Harness, harness, slash
from tests.fakes.discord_messages import RecordedMessage

pytestmark = pytest.mark.e2e

LONG = "a_very_detailed *harbour* at dawn with boats, gulls and fog; " * 4  # escapes lengthen it


async def reply(h: Harness, command: str, sub: str | None = None, **options: object):
    handle = await slash(h, command, h.mod, sub, **options)
    message: RecordedMessage = await h.private_reply(handle)
    return message


async def test_a_moderators_long_queue_fits_in_one_message(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot(openai_ipm=1)
        await h.wait_result(await h.imagine("a busy street", member=h.bob, quality="low"))
        carol = h.discord.add_member(h.guild, "carol")
        for member in (h.alice, h.bob, h.mod, carol):
            for n in range(3):
                handle = await h.imagine(f"{n} {LONG}", member=member, quality="low")
                await handle.wait_original(lambda m: "Job #" in m.content)
        listing = await reply(h, "queue")
        assert len(listing.content) <= 2000
        assert "12 jobs queued in this server" in listing.content
        assert "…and" in listing.content and "more" in listing.content
        h.discord.assert_no_violations()


async def test_config_show_fits_many_changes_and_reads_as_the_options(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        bot = await h.start_bot()
        names = sorted(bot.services.catalog.names())
        for n in range(10):
            await reply(h, "config", "set", allowed_models=",".join(names[: 1 + n % len(names)]))
            await reply(h, "config", "set", allowed_models="all")
        await reply(h, "quota", "set", user_daily_usd=5.0, guild_daily_images=0)
        shown = await reply(h, "config", "show")
        changes = next(f for f in shown.embeds[0]["fields"] if f["name"] == "Recent changes")
        assert len(changes["value"]) <= 1024
        assert "user_daily_usd: $1.00 → $5.00" in changes["value"]
        assert "guild_daily_images: 200 → no limit" in changes["value"]
        assert "micro" not in changes["value"]
        h.discord.assert_no_violations()


async def test_counts_agree_in_number_and_a_size_refusal_is_short(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        limits = await reply(h, "quota", "set", user_daily_images=1, guild_daily_images=1)
        assert "1 image" in limits.text and "1 images" not in limits.text
        handle = await h.imagine("a cat", size="8001x1001", model="gpt-image-2")
        refused = await h.private_reply(handle)
        assert "multiples of 16" in refused.content and "aspect ratio" in refused.content
        assert len(refused.content) < 250
