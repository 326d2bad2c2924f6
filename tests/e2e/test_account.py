"""Account failures and refusals end to end: the operator told once, the member privately."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from bot.check import run_check
from tests.e2e.harness import Harness, harness
from tests.fakes.discord_messages import RecordedMessage

pytestmark = pytest.mark.e2e

VERIFY = "must be verified to use the model"


def operator_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "OpenAI account problem" in r.getMessage()]


async def failed_privately(h: Harness, prompt: str) -> RecordedMessage:
    handle = await h.imagine(prompt, quality="low")
    reply: RecordedMessage = await h.discord.wait_until(
        lambda: next((m for m in handle.record.followups if m.ephemeral), None),
        10,
        "a private failure notice",
    )
    await h.discord.wait_until(
        lambda: handle.record.original is None or handle.record.original.deleted or None,
        5,
        "the public status removed",
    )
    return reply


async def test_an_unverified_organization_is_told_once_to_the_operator_and_privately_to_members(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        h.openai.enqueue_failure(403, times=2)  # the API's "Verify Organization" answer
        with caplog.at_level(logging.INFO):
            first = await failed_privately(h, "a quiet harbour")
            second = await failed_privately(h, "a windy hill")
        for reply in (first, second):
            assert "the bot's account has a problem" in reply.content.lower()
            assert "nothing was charged" in reply.content
        [line] = operator_lines(caplog)  # once per cause, not once per job
        assert "organization is not verified" in line
        assert VERIFY in line and "Verify Organization" in line  # the provider's own words
        assert "sk-test" not in caplog.text
        public = h.discord.channel_messages(h.channel)
        assert not [m for m in public if "account" in m.text or "harbour" in m.text]
        assert [row["state"] for row in h.jobs()] == ["failed", "failed"]
        assert all(row["cost_micro_usd"] == 0 for row in h.ledger())
        h.discord.assert_no_violations()


async def test_check_online_generate_names_an_unverified_organization(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with harness(tmp_path) as h:
        h.openai.enqueue_failure(403)
        code = await run_check(h.settings, online=True, generate=True, clock=h.clock)
    out = capsys.readouterr().out
    assert code == 1, out
    assert "online: key works" in out  # /models answers an unverified organization normally
    assert "generate: one real image call, gpt-image-2 " in out and "at most $" in out
    assert "problem: the organization is not verified for this model." in out
    assert VERIFY in out


async def test_check_online_generate_makes_one_image_and_says_its_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with harness(tmp_path) as h:
        code = await run_check(h.settings, online=True, generate=True, clock=h.clock)
        [call] = [r for r in h.openai.requests if "/images/" in r.path]
    out = capsys.readouterr().out
    assert code == 0, out
    assert call.params["quality"] == "low" and call.params["n"] == 1
    assert "generate: an image came back; it cost $" in out


async def test_check_online_says_no_answer_when_nothing_answered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # a port nobody listens on: the connection is refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with harness(tmp_path) as h:
        settings = h.settings.model_copy(update={"openai_base_url": f"http://127.0.0.1:{port}/v1"})
        code = await run_check(settings, online=True, clock=h.clock)
    out = capsys.readouterr().out
    assert code == 1
    assert f"problem: no answer from http://127.0.0.1:{port}/v1" in out
    assert "refused" not in out.split("no answer", 1)[0]


@pytest.mark.parametrize(
    ("prompt", "said"),
    [
        ("MODERATION_BLOCK a thing", "refused your prompt or image"),
        ("MODERATION_BLOCK_OUTPUT a thing", "refused the image it made"),
    ],
)
async def test_a_refusal_says_privately_whether_the_prompt_or_the_result_was_refused(
    tmp_path: Path, prompt: str, said: str
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        handle = await h.imagine(prompt, quality="low")
        notice = await h.private_notice(handle)
        assert said in notice.content and "nothing was charged" in notice.content
        assert len(notice.content.splitlines()) == 1
        public = h.discord.channel_messages(h.channel)
        assert not [m for m in public if "safety" in m.text or "a thing" in m.text]
        h.discord.assert_no_violations()
