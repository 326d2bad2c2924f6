"""Discord's rules the bot must live by: 3 s acknowledgement, file size limit, 15-minute tokens."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.harness import harness

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


async def test_acknowledges_in_time_while_the_database_is_stalled(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        bot = await h.start_bot()
        stalled = asyncio.Event()

        async def stall_database() -> None:
            async with bot.services.db.transaction():
                stalled.set()
                await asyncio.sleep(2.6)  # longer than Discord's 3 s minus our own work

        staller = asyncio.create_task(stall_database())
        await stalled.wait()
        handle = await h.imagine("a lighthouse at dusk", quality="low")
        await handle.wait_response(timeout=5)
        print(f"\nacknowledged with the database stalled in {handle.ack_latency:.2f} s")
        assert handle.ack_latency < 3.0
        await staller
        result = await h.wait_result(handle)
        assert result.attachments
        h.discord.assert_no_violations()


async def test_a_result_over_the_file_limit_is_reencoded_under_it(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        h.openai.noise = True  # incompressible: a 1536x1024 PNG of noise is about 4.5 MiB
        handle = await h.discord.slash(
            "imagine",
            {"prompt": "static", "size": "1536x1024", "quality": "low", "format": "png"},
            member=h.alice,
            guild=h.guild,
            channel=h.channel,
            attachment_size_limit=2 * MiB,
        )
        result = await h.wait_result(handle, timeout=30)
        [file] = result.attachments
        assert len(file.data) <= 2 * MiB
        image = Image.open(io.BytesIO(file.data))
        assert image.size[0] >= 1024  # re-encoded, not thumbnailed away
        h.discord.assert_no_violations()


async def test_a_job_finishing_after_the_token_expired_is_posted_in_the_channel(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        h.openai.latency = 0.5
        handle = await h.imagine("a slow painting", quality="low")
        await handle.wait_response()
        h.advance(16 * 60)  # the job finishes 16 minutes after the command
        message = await h.discord.wait_for_message(
            lambda m: (
                m.channel_id == h.channel.id
                and f"<@{h.alice.id}>" in m.content
                and bool(m.attachments)
            ),
            timeout=15,
        )
        assert "ready" in message.content
        assert {b["label"] for b in message.buttons} == {"Re-roll", "Edit", "Delete"}
        h.discord.assert_no_violations()
        await h.eventually(lambda: h.jobs()[0]["result_message_id"] == message.id)
