"""Through fal.ai's queue API: /imagine and /edit deliver fal's images (downloaded from its CDN
at once), priced per image from fal's list and marked so; a dropped submission is in doubt."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import SecretStr

from bot.check import run_check
from bot.money import format_usd
from tests.e2e.harness import Harness, harness, png, slash
from tests.fakes.fal_queue import CDN_HOST, FakeFal
from tests.fakes.result_hosts import RoutedHosts

pytestmark = pytest.mark.e2e
# gpt-image-1 is still sold on fal; the pinned day is before OpenAI's own shutdown of it, which
# the catalog records.
BEFORE_SHUTDOWN = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


@asynccontextmanager
async def through_fal(tmp_path: Path) -> AsyncIterator[tuple[Harness, FakeFal]]:
    async with FakeFal() as fal, harness(tmp_path, start=BEFORE_SHUTDOWN) as h:
        h.download_transport = RoutedHosts({CDN_HOST: fal.base_url})
        await h.start_bot(openai_base_url=fal.base_url, openai_api_key=SecretStr(fal.api_key),
                          provider="fal", image_model="gpt-image-1")  # fmt: skip
        yield h, fal


async def test_imagine_and_edit_deliver_fals_images_priced_from_its_list(tmp_path: Path) -> None:
    async with through_fal(tmp_path) as (h, fal):
        handle = await h.imagine("a lighthouse at dusk", quality="low", size="1024x1024")
        result = await h.wait_result(handle)
        assert result.attachments[0].data in fal.images_out
        upload = h.upload("cat.png", png((64, 64)), "image/png")
        edited = await h.discord.slash(
            "edit", {"prompt": "make it snow", "quality": "medium", "size": "1024x1024",
                     "image": upload},
            member=h.alice, guild=h.guild, channel=h.channel,
        )  # fmt: skip
        assert (await h.wait_result(edited)).attachments[0].data in fal.images_out
        assert [q.endpoint for q in fal.submitted] == [
            "fal-ai/gpt-image-1/text-to-image", "fal-ai/gpt-image-1/edit-image"]  # fmt: skip
        assert fal.submitted[1].input["image_urls"][0].startswith("data:image/png;base64,")
        assert fal.unauthorized == 0  # every call carried `Authorization: Key ...`
        rows = h.ledger()
        # fal's published prices with its input tokens, each request rounded up to the cent:
        # $0.011 + a short prompt; $0.042 + one input image at 3,050 tokens x $0.005 / 1,000.
        assert [r["cost_micro_usd"] for r in rows] == [20_000, 60_000]
        assert {r["billing"] for r in rows} == {"actual"}
        assert {r["price_version"] for r in rows} == {"fal: per-image price"}
        h.discord.assert_no_violations()


async def test_a_call_fal_lists_no_price_for_is_charged_its_estimate_marked(
    tmp_path: Path,
) -> None:
    async with through_fal(tmp_path) as (h, _fal):
        await h.wait_result(await h.imagine("a kite", quality="auto", size="1024x1024"))
        [row] = h.ledger()
        assert row["billing"] == "estimated" and row["cost_micro_usd"] > 0


async def test_a_dropped_submission_is_in_doubt_and_sent_once(tmp_path: Path) -> None:
    async with through_fal(tmp_path) as (h, fal):
        fal.drop_next = 1
        handle = await h.imagine("a fox in the fog", quality="low", size="1024x1024")
        await handle.wait_original(lambda m: "may have" in m.content.lower(), timeout=15)
        await asyncio.sleep(0.3)
        assert len(fal.submitted) == 1
        [row] = h.ledger()
        assert row["billing"] == "in_doubt" and row["cost_micro_usd"] > 0


def _count_option(h: Harness, command: str) -> dict[str, Any]:
    [synced] = [c for c in h.discord.synced_commands(h.guild) or h.discord.synced_commands()
                if c["name"] == command]  # fmt: skip
    [count] = [o for o in synced["options"] if o["name"] == "count"]
    return dict(count)


async def test_counts_are_offered_up_to_fals_four_images_per_request(tmp_path: Path) -> None:
    async with through_fal(tmp_path) as (h, fal):
        for command in ("imagine", "edit"):
            count = _count_option(h, command)
            assert count["max_value"] == 4 and "(1-4)" in count["description"]
        with pytest.raises(AssertionError, match="count"):
            await h.imagine("five foxes", count=5)  # Discord lets no member send it
        result = await h.wait_result(await h.imagine("four foxes", count=4, quality="low",
                                                     size="1024x1024"))  # fmt: skip
        assert len(result.attachments) == 4
        assert [q.input["num_images"] for q in fal.submitted] == [4]


def _half_mask() -> bytes:
    drawn = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    drawn.paste((0, 0, 0, 0), (0, 0, 32, 64))  # OpenAI's way: the left half transparent
    buffer = io.BytesIO()
    drawn.save(buffer, "PNG")
    return buffer.getvalue()


async def test_a_mask_reaches_fal_white_where_the_member_marked_it(tmp_path: Path) -> None:
    async with through_fal(tmp_path) as (h, fal):
        edited = await h.discord.slash(
            "edit", {"prompt": "a hat", "quality": "low", "size": "1024x1024",
                     "image": h.upload("cat.png", png((64, 64)), "image/png"),
                     "mask": h.upload("mask.png", _half_mask(), "image/png")},
            member=h.alice, guild=h.guild, channel=h.channel,
        )  # fmt: skip
        assert (await h.wait_result(edited)).attachments[0].data in fal.images_out
        [sent] = fal.submitted
        data = base64.b64decode(sent.input["mask_image_url"].partition(";base64,")[2])
        with Image.open(io.BytesIO(data)) as mask:
            grey = mask.convert("L")
            assert grey.getpixel((8, 32)) == 255 and grey.getpixel((56, 32)) == 0
        [row] = h.ledger()
        # $0.011 + the input image's $0.01525 + the prompt's tokens, rounded up to the cent
        assert row["billing"] != "in_doubt" and row["cost_micro_usd"] == 30_000


@pytest.mark.parametrize(
    ("model", "quality", "size", "price"),
    [("gpt-image-1.5", "medium", "1536x1024", 60_000),  # $0.050 + prompt -> $0.06
     ("gpt-image-1-mini", "high", "1024x1024", 40_000)],  # $0.036 + prompt -> $0.04
)  # fmt: skip
async def test_fals_other_models_are_priced_from_its_lists(
    tmp_path: Path, model: str, quality: str, size: str, price: int
) -> None:
    async with through_fal(tmp_path) as (h, _fal):
        await h.wait_result(await h.imagine("a kite", model=model, quality=quality, size=size))
        [row] = h.ledger()
        assert row["cost_micro_usd"] == price
        assert row["price_version"] == "fal: per-image price"


async def test_usage_and_the_csv_show_fals_list_priced_spend_apart(tmp_path: Path) -> None:
    async with through_fal(tmp_path) as (h, _fal):
        await h.wait_result(await h.imagine("a kite", quality="low", size="1024x1024"))
        await h.wait_result(await h.imagine("a kite", quality="auto", size="1024x1024"))
        handle = await slash(h, "usage", h.mod, period="today", export=True)
        reply = await handle.wait_original(lambda m: bool(m.embeds), timeout=15)
        fields = {f["name"]: f["value"] for f in reply.embeds[0]["fields"]}
        listed = fields["At a published price (no cost reported)"]
        assert listed.startswith(f"1 req · {format_usd(20_000)} at the provider's list price")
        assert "Estimated (no usage)" in fields  # the call fal lists no price for, apart too
        [export] = [a for a in reply.attachments if a.filename.endswith(".csv")]
        rows = list(csv.DictReader(io.StringIO(export.data.decode("utf-8"))))
        marks = sorted((r["billing"], r["price_version"]) for r in rows)
        assert marks[0] == ("actual", "fal: per-image price") and marks[1][0] == "estimated"


async def test_check_online_lists_what_fal_lacks_with_its_images_per_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with through_fal(tmp_path) as (h, _fal):
        code = await run_check(h.settings, online=True, clock=h.clock)
    out = capsys.readouterr().out
    assert code == 0, out
    lacks = next(line for line in out.splitlines() if line.startswith("provider lacks:"))
    assert "more than 4 images per request" in lacks and "batches (relaxed speed)" in lacks
    assert "masks on edits" not in lacks  # converted to fal's convention and sent
    assert "images/min" not in out  # OpenAI's tier limits do not apply to fal
    assert "rate limits: 2 requests at once" in out
    assert (
        "online: not checked" in out and out.splitlines()[-1] == "ok (not checked online: fal.ai)"
    )


async def test_a_budget_is_held_against_what_fals_list_can_bill(tmp_path: Path) -> None:
    """One low 1024x1024 image: about $0.011 at OpenAI's token prices, but fal's list rounds the
    request up to $0.02; a $0.015 daily budget must not take it (nothing sent, nothing spent)."""
    async with through_fal(tmp_path) as (h, fal):
        quota = await slash(h, "quota", h.mod, "set", guild_daily_usd=0.015)
        await h.private_reply(quota)
        handle = await h.imagine("a kite", quality="low", size="1024x1024")
        refusal = await h.private_reply(handle)
        assert "budget" in refusal.content.lower()
        await asyncio.sleep(0.2)
        assert fal.submitted == [] and h.ledger() == []


@pytest.mark.parametrize("size", ["1024x1024", "1536x1024"])
async def test_gpt_image_2_gets_its_size_as_fal_documents_it_and_delivers(
    tmp_path: Path, size: str
) -> None:
    """fal's openai/gpt-image-2 takes presets or {width, height}: "1024x1024" is refused there."""
    async with through_fal(tmp_path) as (h, fal):
        made = await h.wait_result(await h.imagine("a kite", model="gpt-image-2", quality="low",
                                                   size=size))  # fmt: skip
        assert made.attachments[0].data in fal.images_out
        edited = await h.discord.slash(
            "edit", {"prompt": "make it snow", "quality": "low", "size": size,
                     "model": "gpt-image-2",
                     "image": h.upload("a.png", png((64, 64)), "image/png")},
            member=h.alice, guild=h.guild, channel=h.channel,
        )  # fmt: skip
        assert (await h.wait_result(edited)).attachments[0].data in fal.images_out
        width, height = (int(v) for v in size.split("x"))
        assert [q.input["image_size"] for q in fal.submitted] == [
            {"width": width, "height": height}] * 2  # fmt: skip
        assert [q.endpoint for q in fal.submitted] == [
            "openai/gpt-image-2",
            "openai/gpt-image-2/edit",
        ]


async def test_a_mask_on_a_model_whose_fal_edits_take_none_is_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    """fal-ai/gpt-image-1-mini/edit documents no mask field: refused up front, nothing charged."""
    async with through_fal(tmp_path) as (h, fal):
        edited = await h.discord.slash(
            "edit", {"prompt": "a hat", "quality": "low", "size": "1024x1024",
                     "model": "gpt-image-1-mini",
                     "image": h.upload("cat.png", png((64, 64)), "image/png"),
                     "mask": h.upload("mask.png", _half_mask(), "image/png")},
            member=h.alice, guild=h.guild, channel=h.channel,
        )  # fmt: skip
        refusal = await h.private_reply(edited)
        assert "mask" in refusal.content and "gpt-image-1-mini" in refusal.content
        await asyncio.sleep(0.2)
        assert fal.submitted == [] and h.ledger() == [] and h.jobs() == []


@pytest.mark.parametrize(
    ("quality", "billing", "told"),
    [("low", "actual", format_usd(20_000)), ("auto", "estimated", "its estimate")],
)
async def test_images_fal_completed_but_its_cdn_lost_are_charged_not_in_doubt(
    tmp_path: Path, quality: str, billing: str, told: str
) -> None:
    """fal answered COMPLETED, then its CDN answered 404: made and billed by fal. Charged its list
    price (marked actual) where it has one, else the estimate marked estimated; the job fails
    and the member is told it was made but could not be fetched."""
    async with through_fal(tmp_path) as (h, fal):
        fal.files_gone = True
        handle = await h.imagine("a kite", quality=quality, size="1024x1024")
        said = await handle.wait_original(lambda m: "could not be fetched" in m.content, timeout=15)
        assert told in said.content and "may have" not in said.content.lower()
        await asyncio.sleep(0.2)
        assert len(fal.submitted) == 1  # never sent again
        [row] = h.ledger()
        assert row["billing"] == billing and row["cost_micro_usd"] > 0
        [job] = h.jobs()
        assert job["state"] == "failed" and job["charged_micro_usd"] == row["cost_micro_usd"]
        if billing == "actual":
            assert (row["cost_micro_usd"], row["price_version"]) == (20_000, "fal: per-image price")


async def test_a_retired_model_names_no_replacement_fal_does_not_offer(tmp_path: Path) -> None:
    """gpt-image-1-mini shut down on 2026-12-01; its catalog replacement is not sold on fal."""
    after = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    async with FakeFal() as fal, harness(tmp_path, start=after) as h:
        await h.start_bot(openai_base_url=fal.base_url, openai_api_key=SecretStr(fal.api_key),
                          provider="fal", image_model="gpt-image-2")  # fmt: skip
        handle = await h.imagine("a kite", model="gpt-image-1-mini", quality="low")
        refusal = await h.private_reply(handle)
        assert "retired" in refusal.content and "gpt-image-1-mini" in refusal.content
        assert "sunburst" not in refusal.content and "Use" not in refusal.content
        assert fal.submitted == []
