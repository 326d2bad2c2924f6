"""The live status message: position and estimated cost while waiting, edits as the job moves
(never more often than one per ~3 s), and a preview before the result when previews are on."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e.harness import harness
from tests.fakes.discord_messages import RecordedMessage

pytestmark = pytest.mark.e2e

STATUS_EDIT_INTERVAL = 3.0  # seconds; the promise under test, so not imported from the bot
TOLERANCE = 0.2  # seconds of scheduling jitter
PARTIAL_GAP = STATUS_EDIT_INTERVAL + 0.5  # a preview must wait out the interval to be seen


def shown_at(revision: dict[str, object]) -> datetime:
    """When this revision appeared: the edit time, or the creation time for the first one."""
    stamp = revision["edited_timestamp"] or revision["timestamp"]
    return datetime.fromisoformat(str(stamp))


def status_revisions(message: RecordedMessage) -> list[dict[str, object]]:
    """The revisions that were status updates: everything before the result's embed."""
    return [r for r in message.revisions if not r["embeds"]]


def assert_throttled(message: RecordedMessage) -> None:
    times = [shown_at(r) for r in status_revisions(message)]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(gap >= STATUS_EDIT_INTERVAL - TOLERANCE for gap in gaps), gaps


async def test_status_shows_position_and_cost_then_rendering(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot(openai_ipm=1)  # one image a minute: Alice's job waits for Bob's
        await h.wait_result(await h.imagine("a busy street", member=h.bob, quality="low"))
        handle = await h.imagine("a quiet field", quality="low")
        waiting = await handle.wait_original()
        assert "Job #2 is next in line" in waiting.content
        estimate = h.jobs()[1]["estimated_micro_usd"]
        assert f"up to ${estimate / 1e6:.4f}" in waiting.content

        h.openai.latency = 4.0  # long enough to see it rendering
        h.advance(61)  # a new minute; the dispatcher sleeps on real time, so a new job wakes it
        await h.imagine("a third thing", member=h.bob, quality="low")
        rendering = await handle.wait_original(lambda m: "Rendering job #2" in m.content, 6)
        assert "up to $" in rendering.content
        result = await h.wait_result(handle, timeout=10)
        assert result.id == waiting.id  # the status message became the result
        assert_throttled(result)
        h.discord.assert_no_violations()


async def test_a_waiting_jobs_status_follows_its_position(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot(openai_ipm=1)
        await h.wait_result(await h.imagine("a busy street", member=h.bob, quality="low"))
        first = await h.imagine("a quiet field", quality="low")
        second = await h.imagine("a dark forest", member=h.bob, quality="low")
        await second.wait_original(lambda m: "Job #3 is position 2" in m.content)

        listing = await h.discord.slash(
            "queue", {}, member=h.alice, guild=h.guild, channel=h.channel
        )
        await h.discord.click(await h.private_reply(listing), member=h.alice, label="Cancel #2")
        await first.wait_original(lambda m: "cancelled" in m.content)
        moved = await second.wait_original(lambda m: "Job #3 is next in line" in m.content, 6)
        assert_throttled(moved)
        h.discord.assert_no_violations()


async def test_a_preview_is_shown_before_the_result(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        assert h.bot is not None
        await h.bot.services.guilds.update_config(h.guild.id, changed_by=h.mod.id, previews=True)
        h.openai.partial_pause = PARTIAL_GAP  # enough to see the first preview, and no longer
        handle = await h.imagine("a sunrise", quality="low", count=1)
        preview = await handle.wait_original(lambda m: "preview" in m.content, timeout=8)
        assert preview.attachments and not preview.embeds
        assert preview.attachments[0].filename.startswith("preview")
        result = await h.wait_result(handle, timeout=15)
        assert result.id == preview.id
        assert not any(a.filename.startswith("preview") for a in result.attachments)
        [request] = [r for r in h.openai.requests if "/images/" in r.path]
        assert request.params.get("stream") is True and request.params.get("partial_images") == 2
        assert_throttled(result)
        h.discord.assert_no_violations()


async def test_previews_are_spoilers_when_results_are(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        assert h.bot is not None
        await h.bot.services.guilds.update_config(
            h.guild.id, changed_by=h.mod.id, previews=True, spoilers=True
        )
        h.openai.partial_pause = PARTIAL_GAP  # enough to see the first preview, and no longer
        handle = await h.imagine("a sunrise", quality="low", count=1)
        preview = await handle.wait_original(lambda m: "preview" in m.content, timeout=8)
        assert preview.attachments[0].filename.startswith("SPOILER_preview")
        result = await h.wait_result(handle, timeout=15)
        assert [a.spoiler for a in result.attachments] == [True]
        h.discord.assert_no_violations()


async def test_the_job_next_in_line_is_told_it_waits_for_the_images_per_minute_limit(
    tmp_path: Path,
) -> None:
    """Issue 22, case 22: waiting behind the account's IPM no longer looks like a stuck queue."""
    async with harness(tmp_path) as h:
        await h.start_bot(openai_ipm=1)  # one image a minute: the second job waits ~60 s
        await h.wait_result(await h.imagine("a busy street", member=h.bob, quality="low"))
        waiting = await h.imagine("a quiet field", quality="low")
        told = await waiting.wait_original(lambda m: "images-per-minute" in m.content)
        assert "next in line · waiting for the bot's images-per-minute limit (about" in told.content
        seconds = int(told.content.split("(about ")[1].split(" s)")[0])
        assert 30 <= seconds <= 60
        h.discord.assert_no_violations()
