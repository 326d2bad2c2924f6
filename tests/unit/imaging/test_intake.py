"""Members' inputs: what odd files become, output shapes, the wire field, named API refusals."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from bot.catalog.models import load_catalog
from bot.catalog.shapes import pixels_of, size_for_shape
from bot.domain import ImageOptions, ImageRequest, InputImage
from bot.errors import InputRejectedError, InvalidImageError, InvalidRequestError
from bot.imaging.convert import prepare_input
from bot.imaging.intake import DeclaredFile, looks_like_image
from bot.provider.failures import name_input, translate_error
from bot.provider.wire import edit_form
from bot.store.files import input_filename, input_name
from tests.fakes.openai_edit_files import FilePart, check_image_part, has_mpf_segment
from tests.fakes.openai_rules import ApiError
from tests.unit.imaging.intake_seeds import seeds

SEEDS = dict(seeds())


def sent(name: str) -> Image.Image:
    prepared = prepare_input(SEEDS[name], filename=name)
    image = Image.open(io.BytesIO(prepared.data))
    image.load()
    assert Image.MIME[image.format or ""] == prepared.mime
    return image


@pytest.mark.parametrize(
    ("seed", "fmt", "mode"),
    [
        ("mpo", "JPEG", "RGB"),
        ("heic", "JPEG", "RGB"),
        ("heic-rgba", "PNG", "RGBA"),
        ("avif", "JPEG", "RGB"),
        ("avif-rgba", "PNG", "RGBA"),
        ("png-16bit-grey", "PNG", "RGB"),
        ("tiff-16bit", "PNG", "RGB"),
        ("tiff-float", "PNG", "RGB"),
        ("jpeg-cmyk", "JPEG", "RGB"),
        ("jpeg-grey", "JPEG", "RGB"),
        ("png-p-transparent", "PNG", "RGBA"),
        ("png-la", "PNG", "RGBA"),
        ("png-l", "PNG", "RGB"),
        ("png-1bit", "PNG", "RGB"),
        ("apng", "PNG", "RGBA"),
        ("webp-animated", "WEBP", "RGB"),
    ],
)
def test_odd_inputs_become_8bit_rgb_or_rgba_in_an_api_format(
    seed: str, fmt: str, mode: str
) -> None:
    image = sent(seed)
    assert (image.format, image.mode, getattr(image, "n_frames", 1)) == (fmt, mode, 1)


def test_a_multi_picture_jpeg_loses_its_mpf_segment_and_keeps_its_first_picture() -> None:
    assert has_mpf_segment(SEEDS["mpo"])
    prepared = prepare_input(SEEDS["mpo"], filename="PXL.jpg")
    assert not has_mpf_segment(prepared.data)
    assert (prepared.width, prepared.height) == (48, 36)  # the main picture, not the extra one


@pytest.mark.parametrize("name", ["IMG_0001.HEIC", "photo.heif", "DSC_0001.MPO", "a.avif"])
def test_phone_photos_without_a_content_type_are_taken_by_their_extension(name: str) -> None:
    assert looks_like_image(DeclaredFile(name, 1000, None))


def test_16bit_grey_is_scaled_not_clipped() -> None:
    image = sent("png-16bit-grey")  # pixel x of row 0 holds x * 3000 of 65535
    assert image.getpixel((10, 0)) == pytest.approx((117, 117, 117), abs=1)
    assert image.getpixel((0, 0)) == (0, 0, 0)


def test_8bit_rgb_png_jpeg_and_webp_go_unchanged() -> None:
    for name in ("png-rgb", "png-rgba", "jpeg-rgb", "webp-rgb", "webp-rgba"):
        assert prepare_input(SEEDS[name], filename=name).data == SEEDS[name]


@pytest.mark.parametrize(
    ("seed", "words"),
    [
        ("psd-header", "Photoshop files are not supported"),
        ("pdf", "PDF files are not supported"),
        ("svg", "SVG files are not supported"),
        ("text", "not an image"),
    ],
)
def test_unsupported_files_are_refused_by_name(seed: str, words: str) -> None:
    with pytest.raises(InvalidImageError, match=words):
        prepare_input(SEEDS[seed], filename=seed)


# --- output shapes -----------------------------------------------------------------------------
CATALOG = load_catalog()


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1600, 1000), "1536x1024"), ((1000, 1600), "1024x1536"), ((1100, 1000), "1024x1024")],
)
def test_models_of_listed_sizes_get_the_nearest_shape(size: tuple[int, int], expected: str) -> None:
    spec = CATALOG.get("gpt-image-1.5")
    assert size_for_shape(spec, *size, pixels=1024 * 1024) == expected


@pytest.mark.parametrize(
    "size", [(1600, 1000), (1000, 1600), (4000, 3000), (640, 480), (999, 1000)]
)
def test_models_of_free_sizes_keep_the_ratio_at_the_defaults_pixels(size: tuple[int, int]) -> None:
    spec = CATALOG.get("gpt-image-2")
    chosen = size_for_shape(spec, *size, pixels=pixels_of("1024x1024"))
    width, height = (int(v) for v in chosen.split("x"))
    assert spec.free_size is not None and spec.free_size.problem(width, height) is None
    assert width / height == pytest.approx(size[0] / size[1], rel=0.03)
    assert width * height == pytest.approx(1024 * 1024, rel=0.05)


def test_a_panorama_past_the_ratio_limit_gets_the_widest_allowed_size() -> None:
    spec = CATALOG.get("gpt-image-2")
    width, height = (int(v) for v in size_for_shape(spec, 8000, 1000, pixels=2**20).split("x"))
    assert 2.9 < width / height <= 3.0


# --- the wire field and named refusals ---------------------------------------------------------
def _request(count: int) -> ImageRequest:
    image = InputImage(SEEDS["png-rgb"], "image/png", 32, 24, name="a.png")
    return ImageRequest("edit", "x", ImageOptions(model="gpt-image-2"), images=(image,) * count)


def test_one_image_is_sent_as_image_and_several_as_image_array() -> None:
    assert [name for name, _ in edit_form(_request(1), stream=False)[1]] == ["image"]
    assert [name for name, _ in edit_form(_request(3), stream=False)[1]] == ["image[]"] * 3


def _api_error(message: str, code: str = "invalid_image_file") -> bytes:
    err = ApiError(400, code, message, param="image")
    return httpx.Response(400, json=err.body()).content


def test_an_error_for_image_n_names_the_members_file() -> None:
    body = _api_error("Invalid image file or mode for image 2, please check your image file.")
    error = translate_error(400, body, httpx.Headers(), model="gpt-image-2", request_id="req_1")
    named = name_input(error, ["a.png", "IMG_0001.HEIC"])
    assert isinstance(named, InputRejectedError)
    assert (named.index, named.filename, named.code, named.status) == (
        2,
        "IMG_0001.HEIC",
        "invalid_image_file",
        400,
    )


def test_errors_about_no_particular_image_stay_as_they_were() -> None:
    body = _api_error("Invalid value: 'x'. Supported values are: 'png'.", code="invalid_value")
    error = translate_error(400, body, httpx.Headers(), model="gpt-image-2", request_id=None)
    assert name_input(error, ["a.png"]) is error and isinstance(error, InvalidRequestError)
    out_of_range = _api_error("Invalid image file or mode for image 7.")
    error = translate_error(400, out_of_range, httpx.Headers(), model="m", request_id=None)
    assert not isinstance(name_input(error, ["a.png"]), InputRejectedError)


def test_stored_inputs_keep_the_members_file_name() -> None:
    stored = input_filename("input", 1, "IMG 0001 (copy).HEIC", "jpg")
    assert stored == "input-1--IMG_0001_copy_.HEIC.jpg"
    assert input_name(f"inputs/abc/{stored}") == "IMG_0001_copy_.HEIC"
    assert input_name("inputs/abc/input-0.png") == ""  # stored before names were kept
    assert input_filename("mask", 0, "../..", "png") == "mask-0.png"


def test_the_fake_api_refuses_multi_picture_jpegs_like_the_real_one() -> None:
    with pytest.raises(ApiError) as caught:
        check_image_part(FilePart("image", "image/jpeg", SEEDS["mpo"]), 1)
    assert caught.value.code == "invalid_image_file"
    assert "for image 1" in caught.value.message
    assert check_image_part(FilePart("image", "image/jpeg", SEEDS["jpeg-rgb"]), 1) == (32, 24)
