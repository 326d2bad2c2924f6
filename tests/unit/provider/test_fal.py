"""fal's queue client: fal's input names, and a request fal took is in doubt whatever follows."""

from __future__ import annotations

import httpx
import pytest

from bot.domain import ImageOptions, ImageRequest
from bot.errors import AnswerLostError
from bot.provider.download import ResultDownloader
from bot.provider.fal import FalQueueClient, fal_input
from bot.provider.profiles import load_profile

FAL = load_profile("fal", "")


def request() -> ImageRequest:
    options = ImageOptions(model="gpt-image-1", size="1024x1024", quality="low", n=2)
    return ImageRequest(operation="generate", prompt="a fox", options=options)


def test_the_input_uses_fals_names_and_leaves_auto_to_fal() -> None:
    body = fal_input(request())
    assert body == {"prompt": "a fox", "num_images": 2, "image_size": "1024x1024",
                    "quality": "low", "output_format": "png"}  # fmt: skip


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
