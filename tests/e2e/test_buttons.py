"""Result buttons and the Edit image menu, including after the bot is stopped and started again."""

from __future__ import annotations

import io
from pathlib import Path

import discord
import pytest
from PIL import Image

from tests.e2e.harness import Harness, harness, png

pytestmark = pytest.mark.e2e


async def first_result(h: Harness):
    handle = await h.imagine("a small boat", quality="low")
    return await h.wait_result(handle)


def edits(h: Harness):
    return [r for r in h.openai.requests if r.path.endswith("/images/edits")]


async def test_reroll_edit_and_delete_work_and_survive_a_restart(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        result = await first_result(h)

        await h.stop_bot()
        await h.start_bot()  # every button below was made by the previous process

        reroll = await h.discord.click(result, member=h.alice, label="Re-roll")
        rerolled = await h.wait_result(reroll)
        assert rerolled.id != result.id and "a small boat" in rerolled.text
        assert len(h.ledger()) == 2

        edit = await h.discord.click(result, member=h.alice, label="Edit")
        await edit.wait_response()
        assert edit.modal is not None
        submitted = await h.discord.submit_modal(edit, {"Prompt": "now at night"}, member=h.alice)
        edited = await h.wait_result(submitted)
        assert "now at night" in edited.text
        [request] = edits(h)
        [sent] = request.files("image")
        kept = Image.open(io.BytesIO(result.attachments[0].data))
        assert Image.open(io.BytesIO(sent.data)).size == kept.size  # this result was the input

        refused = await h.discord.click(result, member=h.bob, label="Delete")
        reply = await h.private_reply(refused)
        assert "not allowed" in reply.content
        assert not result.deleted

        await h.discord.click(result, member=h.alice, label="Delete")
        await h.discord.wait_until(lambda: result.deleted or None, 5, "the deletion")
        h.discord.assert_no_violations()


async def test_a_moderator_may_delete_anyones_result(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        helpers = h.discord.add_role(
            h.guild, "Helpers", discord.Permissions(manage_messages=True).value
        )
        carol = h.discord.add_member(h.guild, "carol", roles=[helpers])
        result = await first_result(h)
        await h.discord.click(result, member=carol, label="Delete")
        await h.discord.wait_until(lambda: result.deleted or None, 5, "the deletion")


async def test_edit_image_menu_edits_a_messages_images_in_order(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await h.stop_bot()
        await h.start_bot()  # the menu keeps working after a restart
        posted = await h.discord.post_message(
            h.alice,
            "look at these",
            channel=h.channel,
            files=[("a.png", png((300, 200), "red")), ("b.png", png((200, 300), "blue"))],
        )
        menu = await h.discord.context_menu("Edit image", posted, member=h.bob)
        await menu.wait_response()
        assert menu.modal is not None
        submitted = await h.discord.submit_modal(menu, {"Prompt": "blend them"}, member=h.bob)
        result = await h.wait_result(submitted)
        assert "blend them" in result.text
        [request] = edits(h)
        sizes = [Image.open(io.BytesIO(p.data)).size for p in request.files("image[]")]
        assert sizes == [(300, 200), (200, 300)]
        assert h.ledger()[0]["user_id"] == h.bob.id


async def test_count_ten_delivers_all_ten_images(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        setting = await h.discord.slash(
            "quota",
            {"max_count": 10},
            subcommand="set",
            member=h.mod,
            guild=h.guild,
            channel=h.channel,
        )
        await setting.wait_response()
        handle = await h.imagine("ten little robots", quality="low", count=10)
        result = await h.wait_result(handle, timeout=30)
        messages = [result, *[m for m in handle.record.followups if m.attachments]]
        assert sum(len(m.attachments) for m in messages) == 10
        assert h.ledger()[0]["images"] == 10
        h.discord.assert_no_violations()
