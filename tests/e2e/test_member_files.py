"""Members' files (issue 22, cases 8 to 11): only pixels leave the bot, big phone photos are
scaled down, long CJK names are kept, and a full queue refuses before any download."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.harness import Harness, harness, png

pytestmark = pytest.mark.e2e

MOTION_VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 4000  # a Motion Photo's appended MP4


def phone_jpeg(size: tuple[int, int] = (1200, 900)) -> bytes:
    """A phone JPEG within every limit, upright, with GPS in its EXIF and a video after it."""
    exif = Image.Exif()
    exif[0x0112] = 1  # upright: nothing about the pixels needs changing
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.9), 3: "E", 4: (2.0, 17.0, 40.2)}  # GPS
    buffer = io.BytesIO()
    Image.new("RGB", size, "teal").save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue() + MOTION_VIDEO


async def edit_with(h: Harness, name: str, data: bytes, **options: object):
    upload = h.upload(name, data, "image/jpeg")
    return await h.discord.slash(
        "edit", {"prompt": "make it sunset", "quality": "low", "image": upload, **options},
        member=h.alice, guild=h.guild, channel=h.channel,
    )  # fmt: skip


def sent_image_bytes(h: Harness) -> bytes:
    [request] = [r for r in h.openai.requests if r.path.endswith("/images/edits")]
    [part] = request.files("image")
    return part.data


async def test_a_phone_photo_leaves_without_its_location_or_video(tmp_path: Path) -> None:
    photo = phone_jpeg()
    assert b"GPS" in photo or Image.open(io.BytesIO(photo)).getexif().get_ifd(0x8825)
    async with harness(tmp_path) as h:
        await h.start_bot()
        assert (await h.wait_result(await edit_with(h, "PXL_0001.jpg", photo))).attachments
        sent = sent_image_bytes(h)
        assert b"ftypmp42" not in sent and b"Exif" not in sent
        with Image.open(io.BytesIO(sent)) as image:
            assert image.size == (1200, 900)
            assert not image.getexif()


async def test_a_50_megapixel_phone_photo_is_scaled_down_not_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8160, 6120), "orange").save(buffer, "JPEG", quality=70)
    async with harness(tmp_path) as h:
        await h.start_bot()
        handle = await edit_with(h, "PXL_50MP.jpg", buffer.getvalue())
        assert (await h.wait_result(handle, timeout=30)).attachments
        with Image.open(io.BytesIO(sent_image_bytes(h))) as image:
            assert max(image.size) <= 4096 and image.size[0] / image.size[1] == pytest.approx(4 / 3)


async def test_a_long_cjk_file_name_is_kept_within_the_file_systems_limit(tmp_path: Path) -> None:
    name = "夏の海辺で撮った家族の写真" * 6 + ".png"  # 78 characters, 234 bytes before ".png"
    async with harness(tmp_path) as h:
        await h.start_bot()
        upload = h.upload(name, png((64, 64), "blue"), "image/png")
        handle = await h.discord.slash(
            "edit", {"prompt": "add snow", "quality": "low", "image": upload},
            member=h.alice, guild=h.guild, channel=h.channel,
        )  # fmt: skip
        assert (await h.wait_result(handle)).attachments
        assert h.jobs()[0]["state"] == "succeeded"


async def test_an_edit_from_a_member_with_a_full_queue_downloads_nothing(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot(openai_ipm=1)  # Bob's job takes this minute; Alice's three wait
        await h.wait_result(await h.imagine("a busy street", member=h.bob, quality="low"))
        for n in range(3):
            handle = await h.imagine(f"a field {n}", quality="low")
            await handle.wait_original(lambda m: "Job #" in m.content)
        upload = h.upload("big.png", png((2048, 2048), "green"), "image/png")
        handle = await h.discord.slash(
            "edit", {"prompt": "add snow", "image": upload},
            member=h.alice, guild=h.guild, channel=h.channel,
        )  # fmt: skip
        reply = await h.private_reply(handle)
        assert "already have 3 jobs waiting" in reply.content
        path = upload["url"].split("://", 1)[1].split("/", 1)[1]
        assert not [r for r in h.discord.requests if r.path.endswith(path)]
