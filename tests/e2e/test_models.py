"""Honest availability end to end: what the provider's /models lists is what members are offered."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.catalog.models import load_catalog
from bot.catalog.pricing import cost_of
from bot.check import run_check
from bot.domain import TokenUsage
from bot.money import format_usd
from tests.e2e.harness import Harness, harness

pytestmark = pytest.mark.e2e
CATALOG = load_catalog()


async def _model_choices(h: Harness, typed: str) -> list[str]:
    handle = await h.discord.autocomplete(
        "imagine", "model", typed, member=h.alice, options={"prompt": "a cat"}
    )
    await handle.wait_response()
    return [choice["value"] for choice in handle.choices or []]


async def test_a_model_the_provider_lacks_is_not_offered_and_is_refused(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.openai.listed_models = [n for n in CATALOG.names() if n != "gpt-image-2.5-sunburst"]
        await h.start_bot()
        choices = await _model_choices(h, "gpt-image-2")
        assert choices == [
            "gpt-image-2",
            "gpt-image-2.5-flare",
            "gpt-image-2.6-flare",
            "gpt-image-2.6-sunburst",
        ]

        handle = await h.imagine("a lighthouse", model="gpt-image-2.5-sunburst", quality="low")
        reply = await h.private_reply(handle)
        assert "`gpt-image-2.5-sunburst`" in reply.content
        assert "does not offer it" in reply.content and "gpt-image-2.5-flare" in reply.content
        assert not [r for r in h.openai.requests if "/images/" in r.path]
        assert h.jobs() == [] and h.ledger() == []
        h.discord.assert_no_violations()


async def test_when_models_cannot_be_listed_the_whole_catalog_is_offered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with harness(tmp_path) as h:
        h.openai.models_error = 503
        with caplog.at_level(logging.WARNING, logger="bot.provider.availability"):
            await h.start_bot()
        assert "could not list the provider's models" in caplog.text
        assert "offering every catalog model" in caplog.text
        assert "sk-test" not in caplog.text
        choices = await _model_choices(h, "gpt-image-2")
        assert choices == [
            "gpt-image-2",
            "gpt-image-2.5-flare",
            "gpt-image-2.5-sunburst",
            "gpt-image-2.6-flare",
            "gpt-image-2.6-sunburst",
        ]


async def test_imagine_with_gpt_image_2_5_flare_is_delivered_and_priced(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        assert "gpt-image-2.5-flare" in await _model_choices(h, "flare")
        handle = await h.imagine(
            "a paper boat", model="gpt-image-2.5-flare", quality="medium", size="1536x1024"
        )
        result = await h.wait_result(handle)
        assert result.attachments
        [call] = h.ledger()
        [request] = [r for r in h.openai.requests if "/images/" in r.path]
        assert request.params["model"] == "gpt-image-2.5-flare"
        usage = TokenUsage(
            text_input=call["text_input_tokens"], image_output=call["image_output_tokens"]
        )
        expected = cost_of(CATALOG.get("gpt-image-2.5-flare"), usage)
        assert call["model"] == "gpt-image-2.5-flare"
        assert call["cost_micro_usd"] == expected > 0
        assert format_usd(expected) in result.text


async def test_check_online_lists_what_the_provider_and_the_catalog_each_lack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with harness(tmp_path) as h:
        h.openai.listed_models = [
            "gpt-image-2",
            "gpt-image-2.5-flare",
            "gpt-image-2.6-sunburst",
            "gpt-image-3",
            "gpt-image-2-2026-04-21",
            "gpt-5.5",
        ]
        code = await run_check(h.settings, online=True, clock=h.clock)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "not offered by the API: gpt-image-1.5;" in out
    assert "not offered by the API: gpt-image-1 (retired)" in out
    assert "not offered by the API: gpt-image-2.5-sunburst;" in out
    assert "not offered by the API: gpt-image-2;" not in out
    assert "not offered by the API: gpt-image-2.6-sunburst" not in out
    assert "offered by the API, not in the catalog: gpt-image-3" in out
    assert "gpt-image-2-2026-04-21" not in out and "gpt-5.5" not in out


@pytest.mark.parametrize(
    ("model", "quality", "size", "image_tokens"),
    [
        # the fake bills 2.6 from third-party measurements: low at 4x gpt-image-2's 167 tokens
        ("gpt-image-2.6-sunburst", "low", "1536x1024", 668),
        ("gpt-image-2.6-flare", "high", "1024x1024", 7033),  # $0.211 / $30 per 1M
        ("gpt-image-2.6-flare", "auto", "1024x1024", 7068),  # the fake picks medium: 4 x 1767
    ],
)
async def test_imagine_with_a_2_6_model_is_charged_from_the_providers_usage(
    tmp_path: Path, model: str, quality: str, size: str, image_tokens: int
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        assert model in await _model_choices(h, "2.6")
        handle = await h.imagine("a paper boat", model=model, quality=quality, size=size)
        result = await h.wait_result(handle)
        assert result.attachments
        [request] = [r for r in h.openai.requests if "/images/" in r.path]
        assert (request.params["model"], request.params["quality"]) == (model, quality)
        # the member as a salted hash, in the field that replaced the deprecated `user`
        assert "user" not in request.params
        identifier = request.params["safety_identifier"]
        assert len(identifier) == 32 and str(h.alice.id) not in identifier
        [call] = h.ledger()
        assert call["model"] == model and call["image_output_tokens"] == image_tokens
        # $30 per 1M image output tokens and $5 per 1M text input tokens (the official page)
        expected = -(-(image_tokens * 30 + call["text_input_tokens"] * 5) // 1)
        assert call["cost_micro_usd"] == expected
        assert format_usd(expected) in result.text
        [job] = h.jobs()
        assert job["estimated_micro_usd"] >= expected


async def test_the_deep_qualities_run_where_the_catalog_lists_them(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        handle = await h.imagine("a paper boat", model="gpt-image-2.6-sunburst", quality="xhigh")
        assert (await h.wait_result(handle)).attachments
        [request] = [r for r in h.openai.requests if "/images/" in r.path]
        assert request.params["quality"] == "xhigh"
        [job] = h.jobs()
        [call] = h.ledger()
        assert job["estimated_micro_usd"] >= call["cost_micro_usd"] > 0

        refused = await h.imagine("a paper boat", model="gpt-image-2", quality="max")
        reply = await h.private_reply(refused)
        assert (
            "quality" in reply.content
            and "gpt-image-2 offers auto, low, medium, high" in reply.content
        )
        assert len([r for r in h.openai.requests if "/images/" in r.path]) == 1
