"""Styles end to end: moderators manage them, members pick one, its text reaches OpenAI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Harness, harness, slash
from tests.fakes.discord_messages import RecordedMessage

pytestmark = pytest.mark.e2e

NOIR = "as a film noir still, {prompt}, deep shadows"


def field(message: RecordedMessage, name: str) -> str:
    for embed in message.embeds:
        for f in embed.get("fields", []):
            if f["name"] == name:
                return str(f["value"])
    raise AssertionError(f"no field {name!r} in {message.embeds}")


def sent_prompts(h: Harness) -> list[str]:
    return [str(r.params["prompt"]) for r in h.openai.image_requests]


async def test_a_style_reaches_the_upstream_prompt_shows_in_the_result_and_survives_reroll(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        added = await slash(h, "style", h.mod, "add", name="Noir", prompt=NOIR)
        assert "Added the style **Noir**" in (await added.wait_original(timeout=5)).content
        await (
            await slash(h, "style", h.mod, "add", name="Watercolor", prompt="soft watercolor")
        ).wait_response()

        typed = await h.discord.autocomplete("imagine", "style", "no", member=h.alice)
        await typed.wait_response()
        assert [c["value"] for c in typed.choices or []] == ["Noir"]

        handle = await h.imagine("a foggy pier", style="noir", quality="low")
        status = await handle.wait_original(timeout=5)
        assert "style Noir" in status.content
        result = await h.wait_result(handle)
        assert sent_prompts(h) == ["as a film noir still, a foggy pier, deep shadows"]
        assert field(result, "Style") == "Noir"
        assert result.attachments[0].description == "Generated image: a foggy pier (style: Noir)"
        assert "a foggy pier" in result.text and "deep shadows" not in result.text  # kept hidden

        reroll = await h.discord.click(result, member=h.alice, label="Re-roll")
        await h.wait_result(reroll)
        assert sent_prompts(h)[-1] == "as a film noir still, a foggy pier, deep shadows"

        await h.wait_result(await h.imagine("a fox", style="Watercolor", quality="low"))
        assert sent_prompts(h)[-1] == "a fox. soft watercolor"  # no placeholder: appended
        await h.wait_result(await h.imagine("a fox", quality="low"))
        styled, plain = h.jobs()[-2], h.jobs()[-1]
        assert styled["estimated_tokens"] > plain["estimated_tokens"]  # the style's text counts
        h.discord.assert_no_violations()


async def test_members_list_styles_moderators_remove_them(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await (await slash(h, "style", h.mod, "add", name="Noir", prompt=NOIR)).wait_response()

        listed = await slash(h, "style", h.alice, "list")
        shown = await listed.wait_original(timeout=5)
        assert shown.ephemeral and "**Noir**" in shown.text and "film noir" in shown.text

        denied = await slash(h, "style", h.alice, "add", name="Mine", prompt="x")
        assert "Manage Server" in (await h.private_reply(denied)).content

        removed = await slash(h, "style", h.mod, "remove", name="noir")
        assert "Removed the style **Noir**" in (await removed.wait_original(timeout=5)).content
        gone = await h.imagine("a foggy pier", style="Noir", quality="low")
        assert "no style named Noir" in (await h.private_reply(gone)).content
        assert h.openai.image_requests + h.openai.moderation_requests == []
        h.discord.assert_no_violations()
