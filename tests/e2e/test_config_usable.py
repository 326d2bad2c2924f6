"""/config set refuses a default the guild cannot use; a retired default gives way to its
replacement for members."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Harness, harness

pytestmark = pytest.mark.e2e
AFTER_SHUTDOWN = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)  # gpt-image-1.5 shut down 2026-12-01


async def config_set(h: Harness, **options: Any) -> str:
    handle = await h.discord.slash(
        "config", options, subcommand="set", member=h.mod, guild=h.guild, channel=h.channel
    )
    reply = await h.private_reply(handle)
    return str(reply.content)


async def test_a_retired_model_is_refused_at_once_naming_what_works(tmp_path: Path) -> None:
    async with harness(tmp_path, start=AFTER_SHUTDOWN) as h:
        await h.start_bot()
        reply = await config_set(h, model="gpt-image-1.5")
        assert "Settings updated" not in reply
        assert "gpt-image-1.5 was retired on 2026-12-01" in reply
        assert "gpt-image-2.6-sunburst" in reply  # its replacement, and a model that works
        assert (await h.bot.services.guilds.get(h.guild.id)).config.default_model is None  # type: ignore[union-attr]
        h.discord.assert_no_violations()


async def test_a_model_the_provider_does_not_offer_is_refused(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.openai.listed_models = ["gpt-image-2"]
        await h.start_bot()
        reply = await config_set(h, model="gpt-image-2.6-flare")
        assert "does not offer gpt-image-2.6-flare" in reply and "Usable: gpt-image-2" in reply


async def test_a_size_the_model_does_not_take_is_refused_listing_valid_sizes(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        reply = await config_set(h, size="999x999")
        assert "Settings updated" not in reply
        assert "999x999 is not a size gpt-image-2 accepts" in reply and "1536x1024" in reply
        assert "Settings updated" in await config_set(h, size="2048x1152")


async def test_a_retired_guild_default_gives_members_its_replacement_and_tells_moderators_once(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:  # 2026-11-16: gpt-image-1.5 still runs
        await h.start_bot()
        log_channel = h.discord.add_channel(h.guild, "imagebot-log")
        set_up = await config_set(h, model="gpt-image-1.5", log_channel=log_channel)
        assert "Settings updated" in set_up
        h.advance((AFTER_SHUTDOWN - h.clock.now()).total_seconds())
        for prompt in ("a lighthouse", "a harbour"):
            result = await h.wait_result(await h.imagine(prompt, quality="low"))
            assert result.attachments
        sent = [r.params["model"] for r in h.openai.requests if "/images/" in r.path]
        assert sent == ["gpt-image-2.6-sunburst", "gpt-image-2.6-sunburst"]
        told = [
            m
            for m in h.discord.channel_messages(log_channel)
            if "gpt-image-1.5 has been retired" in m.text
        ]
        assert len(told) == 1 and "gpt-image-2.6-sunburst" in told[0].text
