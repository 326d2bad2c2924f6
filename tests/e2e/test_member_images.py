"""Members' real images end to end: phone photos, forwards, links, shapes, gateways, refusals."""

from __future__ import annotations

import io
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image

from tests.e2e.harness import Harness, harness, png
from tests.fakes.openai_edit_files import has_mpf_segment
from tests.fakes.openai_records import RecordedRequest

pytestmark = pytest.mark.e2e


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    if fmt == "HEIF":  # without registering Pillow's opener: the bot must do that itself
        pillow_heif.from_pillow(image).save(buffer, quality=90)
    else:
        image.save(buffer, fmt, **params)
    return buffer.getvalue()


def phone_hdr_photo() -> bytes:
    """A 1600x1200 picture saved as MPO with one small extra frame, as HDR phone cameras write."""
    extra = Image.new("RGB", (160, 120), "white")
    return encoded(
        Image.new("RGB", (1600, 1200), "teal"), "MPO", save_all=True, append_images=[extra]
    )


def edit_requests(h: Harness) -> list[RecordedRequest]:
    return [r for r in h.openai.requests if r.path.endswith("/images/edits")]


def sent_images(request: RecordedRequest) -> list[Image.Image]:
    parts = request.files("image") + request.files("image[]")
    return [Image.open(io.BytesIO(p.data)) for p in parts]


async def edit(h: Harness, prompt: str, *, files: list[tuple[str, bytes, str]], **options: object):
    names = ["image", "image2", "image3", "image4"]
    uploads = {name: h.upload(*spec) for name, spec in zip(names, files, strict=False)}
    return await h.discord.slash(
        "edit",
        {"prompt": prompt, "quality": "low", **uploads, **options},
        member=h.alice,
        guild=h.guild,
        channel=h.channel,
    )


async def test_a_phone_hdr_photo_is_re_encoded_and_edited(tmp_path: Path) -> None:
    photo = phone_hdr_photo()
    assert has_mpf_segment(photo)  # what the API is reported to refuse every time
    async with harness(tmp_path) as h:
        await h.start_bot()
        handle = await edit(h, "make it sunset", files=[("PXL_0001.jpg", photo, "image/jpeg")])
        result = await h.wait_result(handle)
        assert result.attachments
        [request] = edit_requests(h)
        [part] = request.files("image")
        assert part.content_type == "image/jpeg" and not has_mpf_segment(part.data)
        with Image.open(io.BytesIO(part.data)) as sent:
            assert (sent.format, sent.mode, sent.size) == ("JPEG", "RGB", (1600, 1200))
        assert h.jobs()[0]["state"] == "succeeded"


@pytest.mark.parametrize(
    ("filename", "fmt", "content_type"),
    [("IMG_0001.HEIC", "HEIF", "image/heic"), ("photo.avif", "AVIF", "image/avif")],
    ids=["heic", "avif"],
)
async def test_heic_and_avif_photos_are_decoded_and_edited(
    tmp_path: Path, filename: str, fmt: str, content_type: str
) -> None:
    photo = encoded(Image.new("RGB", (640, 480), "orange"), fmt)
    async with harness(tmp_path) as h:
        await h.start_bot()
        handle = await edit(h, "add a rainbow", files=[(filename, photo, content_type)])
        assert (await h.wait_result(handle)).attachments
        [request] = edit_requests(h)
        [part] = request.files("image")
        assert part.content_type == "image/jpeg"
        [sent] = sent_images(request)
        assert sent.size == (640, 480)
        r, g, b = sent.getpixel((320, 240))  # type: ignore[misc]
        assert r > 200 and 120 < g < 200 and b < 60  # still orange: decoded, not blank


async def test_edit_image_on_a_forwarded_message_uses_its_snapshot(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        original = await h.discord.post_message(
            h.alice, "my cat", files=[("cat.png", png((300, 200), "red"))]
        )
        forward = await h.discord.forward_message(h.bob, original)
        assert forward.attachments == [] and forward.content == ""  # as Discord sends it
        menu = await h.discord.context_menu("Edit image", forward, member=h.bob)
        await menu.wait_response()
        submitted = await h.discord.submit_modal(menu, {"Prompt": "give it a hat"}, member=h.bob)
        assert (await h.wait_result(submitted)).attachments
        [request] = edit_requests(h)
        assert [img.size for img in sent_images(request)] == [(300, 200)]


async def test_edit_image_on_an_image_link_uses_the_embed(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        link = "https://images.example.org/photos/dog.png"
        posted = await h.discord.post_message(
            h.alice, "look", links=[(link, png((256, 384), "blue"))]
        )
        assert posted.embeds[0]["type"] == "image" and not posted.attachments
        menu = await h.discord.context_menu("Edit image", posted, member=h.alice)
        await menu.wait_response()
        submitted = await h.discord.submit_modal(menu, {"Prompt": "a red collar"}, member=h.alice)
        assert (await h.wait_result(submitted)).attachments
        [request] = edit_requests(h)
        assert [img.size for img in sent_images(request)] == [(256, 384)]


async def test_edit_image_on_a_message_without_images_says_so(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        posted = await h.discord.post_message(h.alice, "just words")
        menu = await h.discord.context_menu("Edit image", posted, member=h.alice)
        reply = await h.private_reply(menu)
        assert "no images" in reply.content and "forwarded" in reply.content
        assert menu.modal is None and edit_requests(h) == []


async def test_an_edit_without_a_size_keeps_the_photo_landscape(tmp_path: Path) -> None:
    catalog = tmp_path / "models.toml"
    catalog.write_text('[models."gpt-image-1.5"]\nshutdown = ""\n')  # a model of listed sizes
    async with harness(tmp_path, model_catalog=catalog) as h:
        await h.start_bot()
        photo = png((1600, 1000), "green")
        free = await edit(h, "add snow", files=[("a.png", photo, "image/png")])
        listed = await edit(
            h, "add snow", files=[("a.png", photo, "image/png")], model="gpt-image-1.5"
        )
        for handle in (free, listed):
            await h.wait_result(handle)
        sizes = {r.form["model"]: r.form["size"] for r in edit_requests(h)}
        assert sizes["gpt-image-1.5"] == "1536x1024"
        width, height = (int(v) for v in sizes["gpt-image-2"].split("x"))
        assert abs(width / height - 1.6) < 0.02 and width * height < 1.1 * 1024 * 1024


async def test_a_single_image_goes_as_image_through_a_strict_gateway(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.openai.refuse_lone_image_array = True
        await h.start_bot()
        one = await edit(h, "brighter", files=[("a.png", png((64, 64)), "image/png")])
        assert (await h.wait_result(one)).attachments
        two = await edit(
            h,
            "blend",
            files=[("a.png", png((64, 64)), "image/png"), ("b.png", png((64, 64)), "image/png")],
        )
        assert (await h.wait_result(two)).attachments
        single, double = edit_requests(h)
        assert [p.name for p in single.parts if p.filename] == ["image"]
        assert [p.name for p in double.parts if p.filename] == ["image[]", "image[]"]


async def test_a_refused_input_is_named_in_the_reply(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        h.openai.enqueue_failure(
            400,
            body={
                "error": {
                    "message": "Invalid image file or mode for image 2, please check your image "
                    "file.",
                    "type": "invalid_request_error",
                    "param": "image",
                    "code": "invalid_image_file",
                }
            },
        )
        handle = await edit(
            h,
            "blend",
            files=[
                ("first.png", png((64, 64)), "image/png"),
                ("scan_0042.png", png((64, 64)), "image/png"),
            ],
        )
        failed = await handle.wait_original(lambda m: "failed" in m.content, timeout=10)
        assert "**scan_0042.png** (image 2)" in failed.content
        assert "Nothing was charged" in failed.content and "try again" not in failed.content
        [job] = h.jobs()
        assert job["state"] == "failed" and job["charged_micro_usd"] == 0


async def test_a_refused_file_is_never_sent_upstream(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        pdf = b"%PDF-1.7\n" + b"0" * 2000
        handle = await edit(h, "fix it", files=[("scan.png", pdf, "image/png")])
        reply = await h.private_reply(handle)
        assert "**scan.png**" in reply.content and "PDF files are not supported" in reply.content
        assert [r for r in h.openai.requests if "/images/" in r.path] == []
        assert h.jobs() == [] and h.ledger() == []


async def test_the_mask_option_says_it_guides_the_model_rather_than_fencing_it(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        [command] = [c for c in h.discord.synced_commands(h.guild) if c["name"] == "edit"]
        mask = next(o for o in command["options"] if o["name"] == "mask")
        assert "a guide, not a fence" in mask["description"]
