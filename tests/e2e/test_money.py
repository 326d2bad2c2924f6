"""Money stays right when answers are lost (issue 10): in-doubt calls, gateways without `usage`,
bounded retries of the provider's own 500, and calls that take longer than three minutes."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.money import format_usd
from bot.provider.timeouts import ReadTimeouts
from cogs import _working
from tests.e2e.harness import Harness, harness
from tests.e2e.processes import child_env
from tests.fakes.discord_interactions import InteractionHandle
from tests.fakes.discord_messages import RecordedMessage

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MAY_HAVE = "may have been charged"
NOTHING = "nothing was charged"


def image_requests(h: Harness) -> list[Any]:
    return [r for r in h.openai.requests if "/images/" in r.path]


def everything_said(handle: InteractionHandle) -> str:
    """Every revision of every message the member saw for this interaction."""
    messages = [m for m in (handle.record.original, *handle.record.followups) if m is not None]
    texts = [str(r.get("content") or "") for m in messages for r in m.revisions]
    return "\n".join(texts + [m.content for m in messages]).lower()


async def usage_reply(h: Harness) -> RecordedMessage:
    handle = await h.discord.slash(
        "usage", {"period": "today"}, member=h.mod, guild=h.guild, channel=h.channel
    )
    return await handle.wait_original(lambda m: bool(m.embeds), timeout=15)


def field(message: RecordedMessage, name: str) -> str:
    for embed in message.embeds:
        for f in embed.get("fields", []):
            if f["name"] == name:
                return str(f["value"])
    raise AssertionError(f"no field {name!r} in {message.embeds}")


async def assert_in_doubt(h: Harness, handle: InteractionHandle, why: str) -> None:
    """One request, its estimate kept as an in-doubt ledger row, the member told so, and
    /usage showing it apart."""
    told = await handle.wait_original(lambda m: MAY_HAVE in m.content, timeout=15)
    assert why in told.content
    assert "won't send it again" in told.content and "press Re-roll" in told.content
    assert [b["label"] for b in told.buttons] == ["Re-roll"]
    assert NOTHING not in everything_said(handle)
    [job] = h.jobs()
    [row] = h.ledger()
    assert job["state"] == "unknown"
    assert row["billing"] == "in_doubt"
    assert row["cost_micro_usd"] == job["charged_micro_usd"] == job["estimated_micro_usd"] > 0
    assert format_usd(row["cost_micro_usd"]) in told.content
    await asyncio.sleep(0.3)  # nothing goes out again by itself
    assert len(image_requests(h)) == 1

    usage = await usage_reply(h)
    assert format_usd(row["cost_micro_usd"]) in field(usage, "In doubt (answer lost)")
    assert field(usage, "In doubt (answer lost)").startswith("1 req")
    assert field(usage, "Spend") == format_usd(row["cost_micro_usd"])


async def test_an_answer_dropped_after_the_request_went_out_is_in_doubt(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        h.openai.drop_next()  # the whole request is read, then the connection closes
        handle = await h.imagine("a fox in the fog", quality="low")
        await assert_in_doubt(h, handle, "the connection to the image service dropped")
        assert h.ledger()[0]["error_code"] == "connection_lost"
        # Sending it again is the member's choice: Re-roll makes a new job, charged on its own.
        told = handle.record.original
        assert told is not None
        again = await h.discord.click(told, member=h.alice, label="Re-roll")
        await h.wait_result(again)
        assert len(image_requests(h)) == 2 and h.jobs()[1]["state"] == "succeeded"
        h.discord.assert_no_violations()


async def previews_on(h: Harness) -> None:
    changed = await h.discord.slash(
        "config",
        {"previews": True},
        subcommand="set",
        member=h.mod,
        guild=h.guild,
        channel=h.channel,
    )
    assert "Settings updated" in (await changed.wait_original(timeout=5)).content


async def test_a_stream_error_after_a_preview_is_in_doubt(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await previews_on(h)
        h.openai.stream_error_next("server_error")  # after the first preview was streamed
        handle = await h.imagine("a fox in a storm", quality="low")
        await assert_in_doubt(
            h, handle, "the image service stopped with an error after it had sent a preview"
        )
        assert image_requests(h)[0].params.get("stream") is True
        assert h.ledger()[0]["error_code"] == "server_error"
        h.discord.assert_no_violations()


@pytest.mark.parametrize("flat", [False, True], ids=["nested", "spec-flat"])
async def test_a_stream_error_before_any_preview_is_answered_and_free(
    tmp_path: Path, flat: bool
) -> None:
    """Either shape of the error event is the provider's answer (issue 22, case 17: the spec's
    flat `event: error` used to be taken for a lost answer)."""
    async with harness(tmp_path) as h:
        await h.start_bot()
        await previews_on(h)
        h.openai.stream_error_next("server_error", after_partials=0, flat=flat)
        handle = await h.imagine("a fox in a storm", quality="low")
        await handle.wait_original(lambda m: NOTHING in m.content.lower(), timeout=15)
        assert MAY_HAVE not in everything_said(handle)
        [job] = h.jobs()
        [row] = h.ledger()
        assert row["billing"] != "in_doubt" and row["cost_micro_usd"] == 0
        assert job["charged_micro_usd"] == 0 and job["state"] != "unknown"
        h.discord.assert_no_violations()


@pytest.mark.parametrize("status", [502, 504, 524])
async def test_a_proxys_error_page_is_in_doubt_and_never_retried(
    tmp_path: Path, status: int
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        h.openai.gateway_page_next(status, after=1.0)
        handle = await h.imagine("a fox behind a proxy", quality="low")
        await assert_in_doubt(
            h, handle, f"a gateway in front of the image service answered {status}"
        )
        row = h.ledger()[0]
        assert (row["http_status"], row["error_code"]) == (status, f"gateway_{status}")
        h.discord.assert_no_violations()


async def test_an_answer_without_usage_is_charged_at_the_estimate(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        h.openai.hide_usage = True
        handle = await h.imagine("a fox through a gateway", quality="medium")
        result = await h.wait_result(handle)
        assert len(image_requests(h)) == 1
        [job] = h.jobs()
        [row] = h.ledger()
        assert row["billing"] == "estimated" and row["images"] == 1
        assert row["cost_micro_usd"] == job["charged_micro_usd"] == job["estimated_micro_usd"] > 0
        cost = field(result, "Cost")
        assert cost.startswith(format_usd(row["cost_micro_usd"])) and "estimate" in cost
        assert NOTHING not in everything_said(handle)

        usage = await usage_reply(h)
        estimated = field(usage, "Estimated (no usage)")
        assert estimated.startswith("1 req") and format_usd(row["cost_micro_usd"]) in estimated
        assert field(usage, "Spend") == format_usd(row["cost_micro_usd"])
        h.discord.assert_no_violations()


async def test_a_json_500_then_a_200_is_retried_and_charged_once(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        h.openai.enqueue_failure(500)  # the API's own JSON error: it did no work
        handle = await h.imagine("a fox, second try", quality="low")
        result = await h.wait_result(handle)
        assert len(image_requests(h)) == 2
        failed, answered = h.ledger()
        assert (failed["http_status"], failed["cost_micro_usd"], failed["billing"]) == (
            500,
            0,
            "actual",
        )
        assert answered["billing"] == "actual" and answered["cost_micro_usd"] > 0
        [job] = h.jobs()
        assert job["state"] == "succeeded"
        assert job["charged_micro_usd"] == answered["cost_micro_usd"]
        assert field(result, "Cost") == format_usd(answered["cost_micro_usd"])
        h.discord.assert_no_violations()


async def test_a_call_longer_than_three_minutes_completes_and_is_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timeouts scaled 1:100 (600 s -> 6 s); the answer takes "300 s" (3 s), longer than the
    old flat 180 s read timeout; the status says the job is still working meanwhile."""
    monkeypatch.setattr(_working, "WORKING_TICK", 0.1)
    async with harness(tmp_path) as h:
        h.read_timeouts = ReadTimeouts(scale=0.01)
        await h.start_bot()
        h.openai.hang_next(3.0)
        handle = await h.imagine("a slow, detailed fox", quality="high", size="1536x1024")
        await h.eventually(lambda: len(image_requests(h)) == 1)
        # Three minutes pass while the image renders. (The bot and the fake Discord share this
        # clock; h.advance would move it twice.)
        h.clock.advance(180)
        working = await handle.wait_original(lambda m: "still working, 3 min" in m.content, 5)
        assert "Rendering job #1" in working.content
        result = await h.wait_result(handle, timeout=15)
        assert result.attachments
        assert len(image_requests(h)) == 1
        [row] = h.ledger()
        assert row["billing"] == "actual" and row["error_code"] is None
        assert h.jobs()[0]["state"] == "succeeded"
        h.discord.assert_no_violations()


async def test_a_low_quality_call_still_gives_up_after_three_minutes(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.read_timeouts = ReadTimeouts(scale=0.01)  # low quality: 180 s -> 1.8 s
        await h.start_bot()
        h.openai.hang_next(3.0)
        handle = await h.imagine("a quick sketch of a fox", quality="low")
        await assert_in_doubt(h, handle, "the image service did not answer within 2 s")
        assert h.ledger()[0]["error_code"] == "read_timeout"


async def test_hidden_usage_is_told_once_in_the_log_and_by_check_online(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # `check` runs below as a child process on the system clock: this world starts now too (it
    # uses the default model only, so the day does not change what it may pick).
    async with harness(tmp_path, start=datetime.now(UTC)) as h:
        await h.start_bot()
        h.openai.hide_usage = True
        with caplog.at_level(logging.WARNING):
            for prompt in ("a first fox", "a second fox"):
                await h.wait_result(await h.imagine(prompt, quality="low"))
        said = [r.getMessage() for r in caplog.records if "without `usage`" in r.getMessage()]
        assert len(said) == 1  # once, not per call
        await h.stop_bot()

        caplog.clear()
        with caplog.at_level(logging.WARNING):
            await h.start_bot()
        said = [r.getMessage() for r in caplog.records if "hides usage" in r.getMessage()]
        assert len(said) == 1 and "2 of the 2 calls" in said[0]
        await h.stop_bot()

        env = {
            **child_env(),
            "DISCORD_TOKEN": "unused",
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": h.openai.base_url,
            "DATABASE_PATH": str(h.settings.database_path),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "check", "--online", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 60)
        report = out.decode()
        assert process.returncode == 0, (out + err).decode()
        assert report.count("the provider hides usage") == 1
        assert "2 of the 2 calls of the last 7 days came back without `usage`" in report
