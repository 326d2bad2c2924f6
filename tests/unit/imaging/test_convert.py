"""Tests for bot.imaging (convert, masks, uploads): what members' files become, and refusals."""

from __future__ import annotations

import base64
import io
import os
import struct
import tracemalloc
import zlib

import pytest
from PIL import ExifTags, Image

from bot.errors import InvalidImageError
from bot.imaging import convert as imaging
from bot.imaging.convert import image_info, prepare_input
from bot.imaging.masks import NOTHING_TO_CHANGE, prepare_mask
from bot.imaging.uploads import EncodedFile, fit_for_upload, split_into_messages

MiB = 1024 * 1024


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def noise(mode: str, size: tuple[int, int]) -> Image.Image:
    bands = len(mode)
    return Image.frombytes(mode, size, os.urandom(size[0] * size[1] * bands))


def halves(size: tuple[int, int], left: str, right: str, mode: str = "RGB") -> Image.Image:
    image = Image.new(mode, size, right)
    image.paste(left, (0, 0, size[0] // 2, size[1]))
    return image


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height 1-bit pixels, with a tiny IDAT: costs nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def refusal(data: bytes, **kwargs: object) -> str:
    with pytest.raises(InvalidImageError) as caught:
        prepare_input(data, filename="cat.png", **kwargs)  # type: ignore[arg-type]
    assert caught.value.filename == "cat.png"
    return caught.value.reason


# --- prepare_input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
def test_png_jpeg_and_webp_are_sent_as_they_are(fmt: str, mime: str) -> None:
    data = encoded(halves((64, 48), "red", "blue"), fmt)

    result = prepare_input(data, filename=f"photo.{fmt.lower()}")

    assert result.data == data
    assert (result.mime, result.width, result.height) == (mime, 64, 48)


def test_gif_becomes_a_png_of_its_first_frame() -> None:
    frames = [Image.new("RGB", (32, 32), "red"), Image.new("RGB", (32, 32), "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)

    result = prepare_input(buffer.getvalue(), filename="anim.gif")

    image = decoded(result.data)
    assert (image.format, result.mime) == ("PNG", "image/png")
    assert image.convert("RGB").getpixel((5, 5)) == (255, 0, 0)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF"])
def test_other_formats_become_png(fmt: str) -> None:
    source = halves((40, 30), "lime", "black")

    result = prepare_input(encoded(source, fmt), filename=f"scan.{fmt.lower()}")

    image = decoded(result.data)
    assert (image.format, result.mime, image.size) == ("PNG", "image/png", (40, 30))
    assert image.convert("RGB").getpixel((2, 2)) == (0, 255, 0)


def test_exif_rotated_jpeg_comes_out_upright() -> None:
    # Stored 80 wide and 40 tall, red on the left; orientation 6 means "turn 90° clockwise to
    # view", so the member sees a 40x80 picture with red on top.
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    data = encoded(halves((80, 40), "red", "blue"), "JPEG", exif=exif, quality=95)

    result = prepare_input(data, filename="phone.jpg")

    image = decoded(result.data)
    assert (result.mime, result.width, result.height) == ("image/jpeg", 40, 80)
    assert image.size == (40, 80)
    top_right, bottom_left = image.getpixel((38, 2)), image.getpixel((2, 77))
    assert isinstance(top_right, tuple) and isinstance(bottom_left, tuple)
    assert top_right[0] > 200 and top_right[2] < 60  # red
    assert bottom_left[2] > 200 and bottom_left[0] < 60  # blue
    assert image.getexif().get(ExifTags.Base.Orientation, 1) == 1


def test_truncated_png_is_refused() -> None:
    data = encoded(noise("RGB", (128, 128)), "PNG")

    assert refusal(data[: len(data) // 2]) == "the image is truncated"


def test_text_file_named_png_is_refused() -> None:
    assert refusal(b"hello, this is not a picture\n" * 10) == "this file is not an image"


@pytest.mark.parametrize("side", [30000, 10000, 7000])
def test_decompression_bomb_is_refused_without_decoding(side: int) -> None:
    # 30000² is past Pillow's hard limit, 10000² past its warning, 7000² past only ours.
    data = png_header_only(side, side)
    tracemalloc.start()
    try:
        reason = refusal(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 8_000_000, f"{peak / 1e6:.0f} MB: the pixels were allocated"  # 49 MP is 147 MB
    assert reason.startswith("the image is too large")
    assert "the most is 33 megapixels" in reason
    if side == 7000:
        assert "(7000x7000)" in reason


def test_file_over_the_byte_cap_is_refused() -> None:
    data = encoded(noise("RGB", (64, 64)), "PNG")

    assert refusal(data, max_bytes=1000).startswith("the file is too big")


def test_eps_is_refused_without_running_ghostscript() -> None:
    data = encoded(Image.new("RGB", (8, 8), "red"), "EPS")

    assert refusal(data) == "EPS files are not supported"


def test_very_large_legal_image_is_downscaled_to_4096() -> None:
    data = encoded(halves((6000, 300), "white", "black", mode="L"), "PNG")

    result = prepare_input(data, filename="panorama.png")

    assert (result.width, result.height) == (4096, 205)
    assert decoded(result.data).size == (4096, 205)


def test_image_over_the_api_byte_limit_is_reencoded_under_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(imaging, "API_MAX_INPUT_BYTES", 200_000)
    data = encoded(noise("RGB", (512, 512)), "PNG")  # about 790 kB

    result = prepare_input(data, filename="noise.png")

    assert len(result.data) < 200_000
    assert result.mime == "image/jpeg"
    assert decoded(result.data).size == (result.width, result.height)


def test_image_info_reads_the_header() -> None:
    assert image_info(encoded(Image.new("RGB", (30, 20)), "JPEG")) == ("jpeg", 30, 20)
    assert image_info(encoded(Image.new("RGBA", (7, 9)), "WEBP")) == ("webp", 7, 9)
    with pytest.raises(InvalidImageError):
        image_info(b"not an image")


# --- prepare_mask --------------------------------------------------------------------------


def test_black_and_white_mask_becomes_alpha_and_takes_the_images_size() -> None:
    data = encoded(halves((64, 32), "white", "black", mode="L"), "JPEG")

    mask = prepare_mask(data, filename="mask.jpg", size=(128, 64))

    image = decoded(mask.data)
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (128, 64))
    assert (mask.mime, mask.width, mask.height) == ("image/png", 128, 64)
    alpha = image.getchannel("A")
    assert alpha.getpixel((10, 30)) == 0  # white: the area to change
    assert alpha.getpixel((120, 30)) == 255
    levels = alpha.histogram()
    assert levels[0] + levels[255] == 128 * 64  # crisp: nothing half-transparent


def test_mask_with_transparency_of_the_right_size_is_sent_as_it_is() -> None:
    source = Image.new("RGBA", (50, 40), (0, 0, 0, 255))
    source.paste((0, 0, 0, 0), (10, 10, 30, 30))
    data = encoded(source, "PNG")

    mask = prepare_mask(data, filename="mask.png", size=(50, 40))

    assert mask.data == data


def test_mask_with_transparency_is_resized_and_keeps_its_hole() -> None:
    source = Image.new("LA", (50, 40), (0, 255))
    source.paste((0, 0), (0, 0, 25, 40))

    mask = prepare_mask(encoded(source, "PNG"), filename="mask.png", size=(100, 80))

    image = decoded(mask.data)
    assert (image.mode, image.size) == ("RGBA", (100, 80))
    assert image.getchannel("A").getpixel((10, 40)) == 0
    assert image.getchannel("A").getpixel((90, 40)) == 255


def test_opaque_rgba_mask_is_read_as_black_and_white() -> None:
    source = halves((40, 40), "white", "black", mode="RGBA")

    image = decoded(prepare_mask(encoded(source, "PNG"), filename="m.png", size=(40, 40)).data)

    assert image.getchannel("A").getpixel((5, 5)) == 0
    assert image.getchannel("A").getpixel((35, 5)) == 255


def test_mask_that_changes_nothing_is_refused() -> None:
    data = encoded(Image.new("L", (16, 16), 0), "PNG")

    with pytest.raises(InvalidImageError) as caught:
        prepare_mask(data, filename="black.png", size=(16, 16))
    assert caught.value.reason == NOTHING_TO_CHANGE


def test_mask_that_is_not_an_image_is_refused() -> None:
    with pytest.raises(InvalidImageError):
        prepare_mask(b"GIF89a-oops", filename="mask.gif", size=(16, 16))


# --- fit_for_upload and split_into_messages ------------------------------------------------


def test_image_that_fits_is_unchanged_and_named_by_its_real_format() -> None:
    data = encoded(Image.new("RGB", (20, 10), "red"), "JPEG")

    result = fit_for_upload(data, limit_bytes=10 * MiB, filename_stem="job-7-1")

    assert result == EncodedFile("job-7-1.jpg", data, "image/jpeg", 20, 10)


def test_noise_png_is_reencoded_under_the_limit() -> None:
    data = encoded(noise("RGB", (1536, 1024)), "PNG", compress_level=1)
    assert len(data) > 2 * MiB

    result = fit_for_upload(data, limit_bytes=2 * MiB, filename_stem="r")

    assert len(result.data) <= 2 * MiB
    image = decoded(result.data)
    assert (result.filename, result.mime) == ("r.jpg", "image/jpeg")
    assert image.size == (result.width, result.height)


def test_noise_png_with_alpha_keeps_its_transparency_under_the_limit() -> None:
    data = encoded(noise("RGBA", (1536, 1024)), "PNG", compress_level=1)
    assert len(data) > 2 * MiB

    result = fit_for_upload(data, limit_bytes=2 * MiB, filename_stem="r")

    assert len(result.data) <= 2 * MiB
    image = decoded(result.data)
    assert (result.filename, result.mime, image.mode) == ("r.webp", "image/webp", "RGBA")
    levels = image.getchannel("A").histogram()
    assert sum(levels[:128]) > 0 and sum(levels[128:255]) > 0  # still partly see-through


def test_a_tiny_limit_downscales_rather_than_dropping_the_image() -> None:
    data = encoded(noise("RGB", (512, 512)), "PNG")

    result = fit_for_upload(data, limit_bytes=8000, filename_stem="r")

    assert len(result.data) <= 8000
    assert result.width < 512
    assert decoded(result.data).size == (result.width, result.height)


def test_fit_for_upload_refuses_non_images() -> None:
    with pytest.raises(InvalidImageError):
        fit_for_upload(b"x" * 5000, limit_bytes=1024, filename_stem="r")


def test_files_are_split_ten_per_message_in_order() -> None:
    files = list(range(23))

    groups = split_into_messages(files)

    assert [len(group) for group in groups] == [10, 10, 3]
    assert [f for group in groups for f in group] == files
    assert split_into_messages([]) == []
    assert split_into_messages(files[:10]) == [files[:10]]
    assert split_into_messages(files[:5], max_per_message=2) == [[0, 1], [2, 3], [4]]


# A mutated AVIF on which Pillow's AVIF plugin raises RuntimeError ("Missing or empty image
# item"), found by tests/unit/imaging/test_convert_fuzz.py: kept here so it runs every time.
DAMAGED_AVIF = base64.b64decode(
    "AAAAIGZ0eXBhdmlmAAAAAGF2aWZtaWYxbWlhZk1BMUIAAAGGbWV0YQAAAAAAAAAhaGRscgAAAAAAAAAAcGljdAAA"
    "AAAAAAAAAAAAAAAAAAAOcGl0bQAAAAAAAQAAACxpbG9jAAAAAEQAAAIAAQAAAAEAAAHCAAAAIgACAAAAAQAAAa4A"
    "AAAUAAAAQgBpbmYAAAAAAAIAAAAaaW5mZQIAAAAAAQAAYXYwMUNvbG9yAAAAABppbmZlAgAAAAACAABhdjAxQWxw"
    "aGEAAAAAGmlyZWYAAAAAAAAADmF1eGwAAgABAAEAAADDaXBycAAAAJ1pcGNvAAAAFGlzcGUAAAAAAAAAIAAAABgA"
    "AAAQcGl4aQAAAAADCAgIAAAADGF2MUOBAAwAAAAAE2NvbHJuY2x4AAEADQAGgAAAAA5waXhpAAAAAAEIAAAADGF2"
    "MUOBABwAAAAAOGF1eEMAAAAAdXJuOm1wZWc6bXBlZ0I6Y2ljcDpzeXN0ZW1zOmF1eGlsaWFyeTphbHBoYQAAAAAe"
    "aXBtYQAAAAAAAAACAAEEAQKDBAACBAEFhgcAAAA+bWRhdBIACgUYET92FTIJGAAooQAJDStZEgAKCRgRP3aICGg0"
    "IDITGUeHhiGHnnnmgAAAizy9aoOh8A=="
)


def test_a_damaged_avif_is_refused_as_damaged() -> None:
    assert refusal(DAMAGED_AVIF) == "the image is damaged and cannot be read"
