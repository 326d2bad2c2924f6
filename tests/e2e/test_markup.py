"""Markup edits end to end: a drawing over the first image reaches the provider as `markup`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from tests.e2e.harness import Harness, harness, png
from tests.fakes.discord_interactions import ModalValue

pytestmark = pytest.mark.e2e
MODEL = "gpt-image-2.6-sunburst"


def circled(size: tuple[int, int]) -> bytes:
    """A transparent PNG with one red circle: "change this"."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    w, h = size
    ImageDraw.Draw(image).ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), outline="red", width=6)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


async def edit(h: Harness, **options: Any):
    files = {
        name: h.upload(f"{name}.png", data, "image/png")
        for name, data in options.items()
        if isinstance(data, bytes)
    }
    plain = {k: v for k, v in options.items() if not isinstance(v, bytes)}
    return await h.discord.slash(
        "edit",
        {"prompt": "make the circled cup blue", "quality": "low", **plain, **files},
        member=h.alice,
        guild=h.guild,
        channel=h.channel,
    )


def sent_edits(h: Harness) -> list[Any]:
    return [r for r in h.openai.requests if r.path.endswith("/images/edits")]


async def test_a_markup_reaches_the_provider_as_markup(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        handle = await edit(
            h, model=MODEL, image=png((512, 384), "white"), markup=circled((1024, 768))
        )
        assert (await h.wait_result(handle)).attachments
        [request] = sent_edits(h)
        [part] = [p for p in request.parts if p.name == "markup"]
        with Image.open(io.BytesIO(part.data)) as drawn:
            # scaled to the first image's size, as the API requires; still transparent
            assert (drawn.format, drawn.size, drawn.mode) == ("PNG", (512, 384), "RGBA")
        assert not [p for p in request.parts if p.name == "mask"]
        [job] = h.jobs()
        assert job["state"] == "succeeded"


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"model": MODEL, "mask": png((512, 384), "white", "RGBA")}, "not both"),
        ({"model": "gpt-image-2"}, "gpt-image-2 does not take a markup"),
        ({"model": MODEL, "markup_shape": (300, 300)}, "must be the size of the first image"),
    ],
)
async def test_a_markup_that_cannot_work_is_refused_and_nothing_is_sent(
    tmp_path: Path, options: dict[str, Any], said: str
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        shape = options.pop("markup_shape", (512, 384))
        handle = await edit(h, image=png((512, 384), "white"), markup=circled(shape), **options)
        reply = await h.private_reply(handle)
        assert "markup" in reply.content and said in reply.content
        assert sent_edits(h) == [] and h.jobs() == [] and h.ledger() == []
        h.discord.assert_no_violations()


async def test_the_edit_image_modal_takes_a_markup_and_more_images_as_uploads(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        services = h.bot.services  # type: ignore[union-attr]
        await services.guilds.update_config(h.guild.id, changed_by=h.mod.id, default_model=MODEL)
        posted = await h.discord.post_message(h.bob, files=[("cup.png", png((400, 300), "white"))])
        menu = await h.discord.context_menu("Edit image", posted, member=h.alice)
        modal = await menu.wait_modal()
        assert [c["type"] for c in modal["components"]] == [18, 18, 18, 18]  # Labels
        answers: dict[str, ModalValue] = {
            "Prompt": "make the circled cup blue",
            "Markup (optional)": [h.upload("circle.png", circled((800, 600)), "image/png")],
            "More reference images (optional)": [h.upload("blue.png", png((64, 64), "blue"))],
        }
        submitted = await h.discord.submit_modal(menu, answers, member=h.alice)
        assert (await h.wait_result(submitted)).attachments
        [request] = sent_edits(h)
        assert len([p for p in request.parts if p.name in ("image", "image[]")]) == 2
        [part] = [p for p in request.parts if p.name == "markup"]
        with Image.open(io.BytesIO(part.data)) as drawn:
            assert drawn.size == (400, 300)
        h.discord.assert_no_violations()


async def test_the_edit_button_refuses_a_markup_with_a_mask_and_sends_nothing(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        result = await h.wait_result(await h.imagine("a cup", model=MODEL, quality="low"))
        edit = await h.discord.click(result, member=h.alice, label="Edit")
        await edit.wait_modal()
        answers: dict[str, ModalValue] = {
            "Prompt": "make it blue",
            "Markup (optional)": [h.upload("circle.png", circled((1024, 1024)), "image/png")],
            "Mask (optional)": [h.upload("mask.png", png((1024, 1024), "white"), "image/png")],
        }
        submitted = await h.discord.submit_modal(edit, answers, member=h.alice)
        reply = await h.private_reply(submitted)
        assert "markup" in reply.content and "not both" in reply.content
        assert sent_edits(h) == [] and len(h.jobs()) == 1
        h.discord.assert_no_violations()
