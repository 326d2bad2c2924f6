"""fal's queue client: fal's input names, and a request fal took is in doubt whatever follows."""

from __future__ import annotations

import base64

import httpx
import pytest

from bot.domain import ImageOptions, ImageRequest, InputImage
from bot.errors import AnswerLostError
from bot.provider.download import ResultDownloader
from bot.provider.fal import FalQueueClient, fal_input
from bot.provider.profiles import load_profile

FAL = load_profile("fal", "")


def request() -> ImageRequest:
    options = ImageOptions(model="gpt-image-1", size="1024x1024", quality="low", n=2)
    return ImageRequest(operation="generate", prompt="a fox", options=options)


def test_the_input_uses_fals_names_and_leaves_auto_to_fal() -> None:
    body = fal_input(request(), FAL)
    assert body == {"prompt": "a fox", "num_images": 2, "image_size": "1024x1024",
                    "quality": "low", "output_format": "png"}  # fmt: skip


def test_a_mask_goes_converted_in_the_field_fal_names_for_the_model() -> None:
    image = InputImage(b"picture", "image/png", 8, 8)
    mask = InputImage(b"alpha-mask", "image/png", 8, 8)
    white = InputImage(b"white-mask", "image/png", 8, 8)
    for model, field in (("gpt-image-1.5", "mask_image_url"), ("gpt-image-2", "mask_url")):
        options = ImageOptions(model=model, size="1024x1024", quality="low", n=1)
        edit = ImageRequest("edit", "a hat", options, images=(image,), mask=mask)
        body = fal_input(edit, FAL, lambda m: white if m is mask else m)
        assert body[field] == "data:image/png;base64," + base64.b64encode(b"white-mask").decode()


async def test_a_request_that_never_completes_is_in_doubt_after_its_time() -> None:
    asked: list[str] = []
    now = [0.0]

    def answer(req: httpx.Request) -> httpx.Response:
        asked.append(f"{req.method} {req.url.path}")
        if req.method == "POST":
            return httpx.Response(200, json={"request_id": "r1"})
        return httpx.Response(202, json={"status": "IN_PROGRESS"})

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    http = httpx.AsyncClient(
        base_url="https://queue.fal.run/", transport=httpx.MockTransport(answer)
    )
    downloader = ResultDownloader(httpx.AsyncClient(), FAL.results)
    client = FalQueueClient(http, profile=FAL, downloader=downloader, sleep=sleep,
                            monotonic=lambda: now[0])  # fmt: skip
    with pytest.raises(AnswerLostError):
        await client.run(request())
    assert asked[0] == "POST /fal-ai/gpt-image-1/text-to-image"
    assert asked.count("POST /fal-ai/gpt-image-1/text-to-image") == 1  # never sent again
    assert set(asked[1:]) == {"GET /fal-ai/gpt-image-1/requests/r1/status"}
