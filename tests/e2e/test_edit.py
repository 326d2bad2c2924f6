"""/edit end to end: inputs and masks reach OpenAI converted; bad input is refused at no charge."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.harness import Harness, harness, png

pytestmark = pytest.mark.e2e


def bw_mask(size: tuple[int, int]) -> bytes:
    """Black with a white square in the middle: white marks the area to change."""
    image = Image.new("L", size, 0)
    w, h = size
    image.paste(255, (w // 4, h // 4, 3 * w // 4, 3 * h // 4))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def png_bomb(side: int = 30_000) -> bytes:
    """A PNG header claiming side x side pixels, followed by a tiny compressed body."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * 4096)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


async def edit(h: Harness, prompt: str, **files: tuple[str, bytes, str]):
    options = {name: h.upload(*spec) for name, spec in files.items()}
    return await h.discord.slash(
        "edit",
        {"prompt": prompt, "quality": "low", **options},
        member=h.alice,
        guild=h.guild,
        channel=h.channel,
    )


async def test_edit_sends_both_images_and_the_converted_mask(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        handle = await edit(
            h,
            "put a hat on the cat",
            image=("cat.png", png((512, 384), "orange"), "image/png"),
            image2=("hat.jpg", _jpeg((200, 200)), "image/jpeg"),
            mask=("mask.png", bw_mask((256, 192)), "image/png"),
        )
        result = await h.wait_result(handle)
        assert result.attachments and not result.ephemeral  # results are public

        [request] = [r for r in h.openai.requests if r.path.endswith("/images/edits")]
        images = request.files("image[]")
        assert [p.content_type for p in images] == ["image/png", "image/jpeg"]
        [mask] = request.files("mask")
        decoded = Image.open(io.BytesIO(mask.data))
        assert decoded.mode == "RGBA" and decoded.size == (512, 384)
        alpha = decoded.getchannel("A")
        assert alpha.getpixel((256, 192)) == 0  # white in the member's mask: change here
        assert alpha.getpixel((5, 5)) == 255  # black: keep
        assert h.ledger()[0]["operation"] == "edit"
        h.discord.assert_no_violations()


async def test_a_gif_input_is_converted_to_png_and_edited(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        buffer = io.BytesIO()
        Image.new("P", (120, 80), 3).save(buffer, "GIF")
        handle = await edit(h, "make it blue", image=("old.gif", buffer.getvalue(), "image/gif"))
        await h.wait_result(handle)
        [request] = [r for r in h.openai.requests if r.path.endswith("/images/edits")]
        assert [p.content_type for p in request.files("image")] == ["image/png"]


@pytest.mark.parametrize(
    ("filename", "data", "content_type", "words"),
    [
        ("cut.png", png((300, 300), "green")[:-200], "image/png", "truncated"),
        ("bomb.png", png_bomb(), "image/png", "too large"),
        ("notes.png", b"these are my notes, not a picture\n" * 20, "image/png", "not an image"),
        ("notes.txt", b"plain text", "text/plain", "not an image"),
    ],
    ids=["truncated-png", "30000px-bomb", "text-named-png", "text-file"],
)
async def test_bad_inputs_are_refused_privately_and_cost_nothing(
    tmp_path: Path, filename: str, data: bytes, content_type: str, words: str
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        handle = await edit(h, "fix it", image=(filename, data, content_type))
        reply = await h.private_reply(handle)
        assert words in reply.content and filename in reply.content
        assert not [r for r in h.openai.requests if "/images/" in r.path]
        assert h.ledger() == []
        assert h.jobs() == []
        h.discord.assert_no_violations()


async def test_a_4001_character_prompt_from_a_modified_client_is_refused(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        command, _ = h.discord.state.commands.find("imagine", 1, h.guild.id)
        prompt_option = next(o for o in command["options"] if o["name"] == "prompt")
        assert prompt_option["max_length"] == 4000  # what real clients enforce
        prompt_option["max_length"] = 6000  # a client that ignores it
        handle = await h.imagine("x" * 4001)
        message = await h.private_reply(handle)
        assert "4000" in message.content
        assert h.ledger() == [] and h.jobs() == []


async def test_a_moderation_block_is_explained_and_charges_nothing(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        blocked = await h.imagine("MODERATION_BLOCK something", quality="low")
        failed = await h.private_notice(blocked)
        assert "safety system" in failed.content and "nothing was charged" in failed.content
        [job] = h.jobs()
        assert job["state"] == "failed" and job["charged_micro_usd"] == 0
        assert [row["cost_micro_usd"] for row in h.ledger()] == [0]
        # The queue keeps running for everyone else.
        after = await h.imagine("a calm lake", member=h.bob, quality="low")
        assert (await h.wait_result(after)).attachments


def _jpeg(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "navy").save(buffer, "JPEG")
    return buffer.getvalue()
