"""Markup edits end to end: a drawing over the first image reaches the provider as `markup`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from tests.e2e.harness import Harness, harness, png

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
