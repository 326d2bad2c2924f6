"""/imagine end to end: the real bot, the real discord.py, loopback fakes of Discord and OpenAI."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bot.catalog.models import load_catalog
from bot.catalog.pricing import cost_of, nominal_output_tokens
from bot.domain import TokenUsage
from bot.money import format_usd
from cogs import _flow
from tests.e2e.harness import harness

pytestmark = pytest.mark.e2e

DEFERRED_CHANNEL_MESSAGE = 5  # interaction callback type (Discord: interaction response types)
EPHEMERAL = 1 << 6


async def test_imagine_delivers_an_image_and_records_its_real_cost(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        handle = await h.imagine("a red fox in the snow", quality="low", size="1024x1024")
        await handle.wait_response()
        print(f"\nacknowledged /imagine in {handle.ack_latency * 1000:.1f} ms")
        assert handle.ack_latency < 3.0

        result = await h.wait_result(handle)
        image = Image.open(io.BytesIO(result.attachments[0].data))
        image.load()
        assert image.size == (1024, 1024)
        assert "a red fox in the snow" in result.text
        labels = {button["label"] for button in result.buttons}
        assert labels == {"Re-roll", "Edit", "Delete"}

        [call] = h.ledger()
        usage = TokenUsage(
            text_input=call["text_input_tokens"],
            image_output=call["image_output_tokens"],
        )
        spec = load_catalog().get(call["model"])
        assert call["model"] == "gpt-image-2"
        assert call["image_output_tokens"] == nominal_output_tokens(spec, "1024x1024", "low")
        assert call["cost_micro_usd"] == cost_of(spec, usage) > 0
        assert call["request_id"].startswith("req_")
        assert (call["guild_id"], call["user_id"]) == (h.guild.id, h.alice.id)
        [job] = h.jobs()
        assert job["state"] == "succeeded"
        assert job["charged_micro_usd"] == call["cost_micro_usd"]
        assert format_usd(call["cost_micro_usd"]) in result.text
        h.discord.assert_no_violations()


async def test_a_slow_admission_is_deferred_privately_then_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the acknowledgement budget the bot defers privately: the status and a refusal then
    edit that private message, and the result comes as a new public message."""
    monkeypatch.setattr(_flow, "ACK_BUDGET", 0.0)  # every admission is "slow"
    async with harness(tmp_path) as h:
        await h.start_bot()
        handle = await h.imagine("a red fox in the snow", quality="low")
        deferred = await handle.wait_response()
        assert deferred.type == DEFERRED_CHANNEL_MESSAGE and deferred.data["flags"] & EPHEMERAL
        status = await h.private_reply(handle)
        assert "Job #1" in status.content
        result = await h.wait_result(handle)
        assert not result.ephemeral and result.attachments

        refused = await h.imagine("a red fox", style="Nowhere")
        assert (await refused.wait_response()).type == DEFERRED_CHANNEL_MESSAGE
        reply = await h.private_reply(refused)
        assert "no style named Nowhere" in reply.content
        assert len(h.jobs()) == 1  # nothing queued for the refusal
        h.discord.assert_no_violations()


async def test_an_admitted_job_whose_interaction_failed_is_posted_in_the_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discord refusing the acknowledgement (here: past its deadline) must not lose the admitted
    job nor tell the member to try again (a second charge): the result goes to the channel."""
    monkeypatch.setattr(_flow, "ACK_BUDGET", 0.0)
    async with harness(tmp_path) as h:
        await h.start_bot()
        h.discord.state.ack_deadline = 0.0  # every callback now meets 404 Unknown interaction
        handle = await h.imagine("a red fox in the snow", quality="low")
        await handle.wait_response(allow_refused=True)

        def posted() -> bool:
            return any(m.attachments for m in h.discord.channel_messages(h.channel))

        await h.eventually(posted, timeout=4.0)  # sooner than delivery's wait for an ack (5 s)
        [result] = [m for m in h.discord.channel_messages(h.channel) if m.attachments]
        assert f"<@{h.alice.id}>" in result.content
        assert [job["state"] for job in h.jobs()] == ["succeeded"]
        assert not [c for c in handle.callbacks if c.accepted]
