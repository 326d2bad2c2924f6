"""The relaxed speed end to end: Discord -> the bot -> the fake's Batch API -> Discord."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from bot.jobs.relaxed.lane import RelaxedTiming
from bot.money import format_usd
from tests.e2e.harness import Harness, harness, png
from tests.fakes.discord_messages import RecordedMessage

pytestmark = pytest.mark.e2e


async def allow_relaxed(h: Harness, mode: str = "allowed") -> None:
    changed = await h.discord.slash(
        "config", {"relaxed": mode}, subcommand="set", member=h.mod, guild=h.guild,
        channel=h.channel,
    )  # fmt: skip
    assert "Settings updated" in (await changed.wait_original(timeout=5)).content


async def test_a_relaxed_imagine_is_delivered_at_half_the_fast_price(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await allow_relaxed(h)
        handle = await h.imagine("a slow fox", quality="low", size="1024x1024", speed="relaxed")
        status = await handle.wait_original(timeout=5)
        assert "relaxed" in status.content and "half price" in status.content
        assert "$0.00" in status.content  # the price shown: up to the batch estimate
        result = await h.wait_result(handle)
        assert result.attachments and "a slow fox" in result.text
        assert not h.openai.sync_requests, "a relaxed job used the synchronous endpoint"
        [batch] = h.openai.batches.batches.values()
        assert batch.custom_ids == ["job-1"] and batch.metadata["jobs"] == "1"

        fast = await h.imagine("a slow fox", quality="low", size="1024x1024", speed="fast")
        await h.wait_result(fast)
        relaxed_row, fast_row = h.ledger()
        assert (relaxed_row["speed"], fast_row["speed"]) == ("relaxed", "fast")
        assert relaxed_row["image_output_tokens"] == fast_row["image_output_tokens"]
        # Half the fast price of the same request, to the micro-dollar rounding of each.
        assert abs(2 * relaxed_row["cost_micro_usd"] - fast_row["cost_micro_usd"]) <= 2
        assert relaxed_row["fast_cost_micro_usd"] == fast_row["cost_micro_usd"]
        relaxed_job, _ = h.jobs()
        assert relaxed_job["state"] == "succeeded"
        assert relaxed_job["charged_micro_usd"] == relaxed_row["cost_micro_usd"]
        h.discord.assert_no_violations()


async def test_relaxed_is_refused_until_a_moderator_allows_it(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        refused = await h.imagine("a fox", speed="relaxed")
        assert "not enabled" in (await h.private_reply(refused)).content
        await allow_relaxed(h, "only")
        forced = await h.imagine("a fox", quality="low")  # no speed given: relaxed is the only one
        await h.wait_result(forced)
        assert h.jobs()[-1]["speed"] == "relaxed" and not h.openai.sync_requests


async def test_thirty_relaxed_jobs_at_ipm_5_all_arrive_without_a_429(tmp_path: Path) -> None:
    async with harness(tmp_path, openai_ipm=5) as h:
        h.openai.ipm = 5
        members = [h.discord.add_member(h.guild, f"m{i}") for i in range(10)]
        await h.start_bot()
        await allow_relaxed(h, "default")
        started = time.monotonic()
        handles = await asyncio.gather(
            *(h.imagine(f"fox {i}", member=members[i % 10], quality="low") for i in range(30))
        )
        results = await asyncio.gather(*(h.wait_result(handle, 60) for handle in handles))
        took = time.monotonic() - started
        assert len(results) == 30 and all(r.attachments for r in results)
        assert not h.openai.sync_requests  # so no 429 could even happen
        assert [r for r in h.openai.requests if r.path.startswith("/v1/images")] == []
        assert all(job["state"] == "succeeded" for job in h.jobs())
        # IPM 5 would need six minutes for 30 images; the batches took seconds (a figure, not
        # a bound: the results above came within wait_result's timeouts).
        print(f"\n30 relaxed images at IPM 5 in {took:.1f} s (IPM alone: 360 s)")


async def test_an_expired_batch_is_settled_line_by_line(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        members = [h.discord.add_member(h.guild, f"m{i}") for i in range(3)]
        # The three jobs share one batch: the size cap closes it when the third arrives.
        h.relaxed = RelaxedTiming(window=60.0, max_batch_images=3, first_poll=0.1, max_poll=1.0)
        await h.start_bot()
        await allow_relaxed(h, "default")
        h.openai.batches.hold = True
        h.openai.batches.expire_next(done_lines=2)
        handles = [await h.imagine(f"fox {i}", member=m, quality="low") for i, m in
                   enumerate(members)]  # fmt: skip
        await h.eventually(lambda: len(h.openai.batches.batches) == 1, timeout=10)
        h.openai.batches.release()
        await h.eventually(lambda: all(j["delivered_at"] for j in h.jobs()[:2]), timeout=20)
        posted = {m.id for m in h.discord.channel_messages(h.channel) if m.attachments}
        assert {j["result_message_id"] for j in h.jobs()[:2]} <= posted

        # The commands are admitted concurrently, so job ids follow admission order, not the
        # order sent: find the member of the job the batch did not run by its user_id.
        await h.eventually(lambda: h.jobs()[2]["state"] == "failed", timeout=20)
        expired = [m.id for m in members].index(h.jobs()[2]["user_id"])

        def told() -> str:
            """Job 3's member is told: in its original response, or mentioned in the channel."""
            original = handles[expired].record.original
            mention = f"<@{members[expired].id}>"
            texts = [original.content if original is not None else ""]
            texts += [m.content for m in h.discord.channel_messages(h.channel)
                      if mention in m.content]  # fmt: skip
            return next((t for t in texts if "ran out" in t), "")

        await h.eventually(lambda: "ran out" in told(), timeout=20)
        assert "nothing was charged" in told()
        jobs = h.jobs()
        assert [j["state"] for j in jobs] == ["succeeded", "succeeded", "failed"]
        assert jobs[2]["charged_micro_usd"] == 0 and jobs[2]["charged_images"] == 0
        rows = h.ledger()
        assert [r["error_code"] for r in rows] == [None, None, "batch_expired"]
        assert rows[0]["cost_micro_usd"] > 0 and rows[2]["cost_micro_usd"] == 0
        assert [j["charged_micro_usd"] for j in jobs[:2]] == [r["cost_micro_usd"] for r in rows[:2]]


async def test_usage_and_its_csv_show_fast_and_relaxed_apart(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await allow_relaxed(h)
        for speed in ("relaxed", "fast", "relaxed"):
            await h.wait_result(await h.imagine(f"a {speed} owl", quality="low", speed=speed))
        handle = await h.discord.slash(
            "usage", {"period": "today", "export": True}, member=h.mod, guild=h.guild,
            channel=h.channel,
        )  # fmt: skip
        reply = await handle.wait_original(lambda m: bool(m.attachments), timeout=15)
        rows = h.ledger()
        relaxed = [r for r in rows if r["speed"] == "relaxed"]
        spent = sum(r["cost_micro_usd"] for r in relaxed)
        saved = sum(r["fast_cost_micro_usd"] for r in relaxed) - spent
        fast = sum(r["cost_micro_usd"] for r in rows if r["speed"] == "fast")
        [speeds] = [f["value"] for e in reply.embeds for f in e["fields"]
                    if f["name"] == "Fast and relaxed"]  # fmt: skip
        assert f"Fast: 1 image · {format_usd(fast)}" in speeds
        assert f"Relaxed: 2 images · {format_usd(spent)}" in speeds
        assert f"saved {format_usd(saved)}" in speeds and saved > 0
        [export] = [a for a in reply.attachments if a.filename.endswith(".csv")]
        lines = list(csv.DictReader(io.StringIO(export.data.decode("utf-8"))))
        assert [line["speed"] for line in lines] == ["relaxed", "fast", "relaxed"]
        assert lines[1]["fast_price_usd"] == ""
        assert float(lines[0]["fast_price_usd"]) * 1e6 == pytest.approx(
            relaxed[0]["fast_cost_micro_usd"]
        )


async def test_queue_shows_a_relaxed_job_in_its_batch_and_a_late_batch_is_posted_with_a_mention(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await allow_relaxed(h)
        h.openai.batches.hold = True
        handle = await h.imagine("a patient heron", quality="low", speed="relaxed")
        await handle.wait_original(lambda m: "is in a relaxed batch" in m.content, timeout=10)
        listed = await h.discord.slash("queue", {}, member=h.alice, guild=h.guild,
                                       channel=h.channel)  # fmt: skip
        text = (await listed.wait_original(timeout=5)).content
        assert "relaxed, batch in progress" in text and "a patient heron" in text
        assert not (await listed.wait_original(timeout=5)).buttons  # no longer cancellable

        h.advance(16 * 60)  # the batch outlives the interaction token's 15 minutes
        h.openai.batches.release()
        posted = await h.discord.wait_for_message(
            lambda m: f"<@{h.alice.id}>" in m.content and bool(m.attachments), timeout=15
        )
        assert "job #1" in posted.content and posted.embeds
        h.discord.assert_no_violations()


async def test_a_relaxed_edit_sends_its_image_and_mask_as_data_urls(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await allow_relaxed(h)
        options = {
            "prompt": "paint it blue",
            "quality": "low",
            "speed": "relaxed",
            "image": h.upload("cat.png", png((300, 200), "red"), "image/png"),
            "mask": h.upload("mask.png", png((300, 200), "#00000000", "RGBA"), "image/png"),
        }
        handle = await h.discord.slash("edit", options, member=h.alice, guild=h.guild,
                                       channel=h.channel)  # fmt: skip
        result = await h.wait_result(handle)
        assert result.attachments and not h.openai.sync_requests
        [batch] = h.openai.batches.batches.values()
        assert batch.endpoint == "/v1/images/edits" and batch.status == "completed"
        body = batch.lines[0]["body"]
        assert body["images"][0]["image_url"].startswith("data:image/png;base64,")
        assert body["mask"]["image_url"].startswith("data:image/png;base64,")
        [row] = h.ledger()
        assert row["speed"] == "relaxed" and row["image_input_tokens"] > 0


async def test_a_relaxed_edit_asks_for_a_size_the_json_body_lists(tmp_path: Path) -> None:
    """A batch line is JSON, whose `size` lists only auto and three sizes: a relaxed edit keeps
    the picture's shape with the nearest of those (issue 22, case 18); a free size the member
    picks is refused before anything is queued or charged."""
    async with harness(tmp_path) as h:
        await h.start_bot()
        await allow_relaxed(h)
        wide = {"quality": "low", "speed": "relaxed", "model": "gpt-image-2"}
        image = h.upload("wide.png", png((300, 200), "red"), "image/png")
        options = {"prompt": "paint it blue", "image": image, **wide}
        handle = await h.discord.slash("edit", options, member=h.alice, guild=h.guild,
                                       channel=h.channel)  # fmt: skip
        await h.wait_result(handle)
        [batch] = h.openai.batches.batches.values()
        assert batch.lines[0]["body"]["size"] == "1536x1024"

        image = h.upload("wide.png", png((300, 200), "red"), "image/png")
        options = {"prompt": "paint it green", "image": image, "size": "1184x880", **wide}
        refused = await h.discord.slash("edit", options, member=h.alice, guild=h.guild,
                                        channel=h.channel)  # fmt: skip
        reply = await h.private_reply(refused)
        assert "relaxed edit takes auto, 1024x1024, 1536x1024, 1024x1536" in reply.content
        assert len(h.jobs()) == 1 and len(h.openai.batches.batches) == 1
        h.discord.assert_no_violations()


async def test_a_relaxed_job_still_gathering_is_cancelled_from_queue(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.relaxed = RelaxedTiming(window=60.0, first_poll=0.1, max_poll=1.0)
        await h.start_bot()
        await allow_relaxed(h)
        handle = await h.imagine("a cancelled crane", quality="low", speed="relaxed")
        await handle.wait_original(lambda m: "waiting to join" in m.content, timeout=10)
        listing = await (await h.discord.slash(
            "queue", {}, member=h.alice, guild=h.guild, channel=h.channel
        )).wait_original(timeout=5)  # fmt: skip
        assert "relaxed, gathering a batch" in listing.content
        assert [b["label"] for b in listing.buttons] == ["Cancel #1"]
        told = await h.private_reply(await h.discord.click(listing, member=h.alice,
                                                           label="Cancel #1"))  # fmt: skip
        assert "Cancelled job #1; nothing was charged" in told.content
        await handle.wait_original(lambda m: "cancelled" in m.content, timeout=10)
        [job] = h.jobs()
        assert (job["state"], job["charged_micro_usd"]) == ("cancelled", 0)
        assert not h.openai.batches.batches and not h.openai.batches.files


def cost_field(message: RecordedMessage) -> str:
    fields = [f for embed in message.embeds for f in embed.get("fields", [])]
    [cost] = [f["value"] for f in fields if f["name"] == "Cost"]
    return str(cost)


async def test_a_relaxed_job_charged_at_its_estimate_is_shown_as_an_estimate(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await allow_relaxed(h)
        h.openai.hide_usage = True  # the batch line comes back without `usage`
        handle = await h.imagine("a fox seen through a gateway", quality="low", speed="relaxed")
        result = await h.wait_result(handle)
        [row] = h.ledger()
        [job] = h.jobs()
        assert row["cost_micro_usd"] == job["charged_micro_usd"] == job["estimated_micro_usd"]
        shown = cost_field(result)
        assert shown.startswith(format_usd(job["charged_micro_usd"])) and "estimate" in shown
        assert (row["speed"], row["billing"], job["billing"]) == ("relaxed", "estimated",
                                                                  "estimated")  # fmt: skip

        lookup = await h.discord.slash("job", {"id": job["id"]}, member=h.alice, guild=h.guild,
                                       channel=h.channel)  # fmt: skip
        again = await lookup.wait_original(lambda m: bool(m.embeds), timeout=10)
        assert "estimate" in cost_field(again)  # /job reads the same stored record
        h.discord.assert_no_violations()


async def test_a_picture_too_large_for_a_batch_line_is_refused_for_relaxed(tmp_path: Path) -> None:
    """A batch line carries each picture as a data URL of at most 20,971,520 characters (~15 MB):
    a bigger one is refused for the relaxed speed before anything is queued (issue 22, case 16),
    and the fast speed still takes it."""
    noise = Image.frombytes("RGB", (2400, 2400), os.urandom(2400 * 2400 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG", compress_level=1)
    assert len(buffer.getvalue()) > 16_000_000
    async with harness(tmp_path) as h:
        await h.start_bot()
        await allow_relaxed(h)
        image = h.upload("IMG_BIG.png", buffer.getvalue(), "image/png")
        options = {"prompt": "paint it blue", "image": image, "quality": "low", "speed": "relaxed"}
        refused = await h.discord.slash("edit", options, member=h.alice, guild=h.guild,
                                        channel=h.channel)  # fmt: skip
        reply = await h.private_reply(refused, timeout=30)
        assert "IMG_BIG.png is too large for the relaxed speed" in reply.content
        assert h.jobs() == [] and h.openai.batches.batches == {}
        h.discord.assert_no_violations()
