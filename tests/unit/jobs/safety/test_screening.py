"""Screening: the moderation client against the fake, the screener's rules, its own pacing."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator

import pytest
from PIL import Image

from bot.clock import ManualClock
from bot.domain import InputImage
from bot.errors import ScreeningFlaggedError, ScreeningUnavailableError, UpstreamError
from bot.jobs.safety.screening import RequestPacer, Screener
from bot.provider.images import build_http_client
from bot.provider.moderation import MODERATION_MODEL, OpenAIModerationClient
from tests.fakes.openai_server import FakeOpenAI


def image(colour: tuple[int, int, int], mode: str = "RGB", size: int = 64) -> InputImage:
    out = io.BytesIO()
    Image.new(mode, (size, size), colour[: len(mode)] if mode != "LA" else (200, 128)).save(
        out, "PNG"
    )
    return InputImage(out.getvalue(), "image/png", size, size)


RED, BLUE = image((230, 20, 20)), image((20, 20, 230))


@pytest.fixture
async def client(fake_openai: FakeOpenAI) -> AsyncIterator[OpenAIModerationClient]:
    http = build_http_client(
        base_url=fake_openai.base_url, api_key="sk-test", organization=None, project=None
    )
    async with http:
        yield OpenAIModerationClient(http)


def screener(client: OpenAIModerationClient, rpm: int = 500) -> Screener:
    return Screener(client, RequestPacer(rpm, ManualClock()))


async def test_a_clean_prompt_is_not_flagged_and_goes_as_one_text_call(
    client: OpenAIModerationClient, fake_openai: FakeOpenAI
) -> None:
    verdict = await client.check("a cat on a sofa")
    assert not verdict.flagged and verdict.categories == ()
    assert fake_openai.moderation_requests[0].json == {
        "model": MODERATION_MODEL,
        "input": "a cat on a sofa",
    }


async def test_a_flagged_prompt_names_its_categories(client: OpenAIModerationClient) -> None:
    verdict = await client.check("please SCREEN_HATE this")
    assert verdict.flagged
    assert set(verdict.categories) == {"hate", "harassment/threatening"}


async def test_an_image_goes_as_a_data_url_beside_its_prompt(
    client: OpenAIModerationClient, fake_openai: FakeOpenAI
) -> None:
    verdict = await client.check("make it nicer", RED.data, "image/png")
    assert verdict.categories == ("violence", "violence/graphic")
    parts = fake_openai.moderation_requests[0].json["input"]  # type: ignore[index]
    assert parts[0] == {"type": "text", "text": "make it nicer"}
    url = parts[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.partition(",")[2]) == RED.data


async def test_an_error_answer_is_an_upstream_error(
    client: OpenAIModerationClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue_failure(503)
    with pytest.raises(UpstreamError) as caught:
        await client.check("a cat")
    assert caught.value.status == 503


async def test_prompts_mode_screens_only_the_prompt(
    client: OpenAIModerationClient, fake_openai: FakeOpenAI
) -> None:
    await screener(client).screen("prompts", "a cat", [RED])
    assert len(fake_openai.moderation_requests) == 1


async def test_off_sends_nothing(client: OpenAIModerationClient, fake_openai: FakeOpenAI) -> None:
    await screener(client).screen("off", "SCREEN_VIOLENCE", [RED])
    assert fake_openai.requests == []


async def test_each_image_is_screened_in_its_own_call_and_the_flagged_one_named(
    client: OpenAIModerationClient, fake_openai: FakeOpenAI
) -> None:
    with pytest.raises(ScreeningFlaggedError) as caught:
        await screener(client).screen("prompts_and_images", "a cat", [BLUE, RED])
    assert caught.value.source == "image 2"
    assert caught.value.categories == ("violence", "violence/graphic")
    # One text call, then one call per image (the endpoint takes one image per request).
    assert len(fake_openai.moderation_requests) == 3


async def test_images_are_sent_small_as_jpeg_even_grey_with_alpha(
    client: OpenAIModerationClient, fake_openai: FakeOpenAI
) -> None:
    # Grey+alpha PNGs make the real endpoint answer 500 every time (gumroad#5007).
    await screener(client).screen("prompts_and_images", "a cat", [image((0, 0, 0), "LA", 3000)])
    url = fake_openai.moderation_requests[1].json["input"][1]["image_url"]["url"]  # type: ignore[index]
    assert url.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2]))) as sent:
        assert sent.mode == "RGB" and max(sent.size) == 1024


async def test_a_flagged_prompt_stops_before_the_images(
    client: OpenAIModerationClient, fake_openai: FakeOpenAI
) -> None:
    with pytest.raises(ScreeningFlaggedError) as caught:
        await screener(client).screen("prompts_and_images", "SCREEN_VIOLENCE", [BLUE])
    assert caught.value.source == "prompt"
    assert len(fake_openai.moderation_requests) == 1


@pytest.mark.parametrize("fault", ["503", "429", "drop"])
async def test_screening_fails_closed(
    client: OpenAIModerationClient, fake_openai: FakeOpenAI, fault: str
) -> None:
    if fault == "drop":
        fake_openai.drop_next()
    else:
        fake_openai.enqueue_failure(int(fault), "rate_limit_exceeded" if fault == "429" else None)
    with pytest.raises(ScreeningUnavailableError):
        await screener(client).screen("prompts", "a cat", [])


async def test_pacing_waits_for_a_slot_and_refuses_a_long_wait() -> None:
    clock = ManualClock()
    pacer = RequestPacer(2, clock, max_wait=5.0)
    await pacer.acquire()
    clock.advance(56.0)
    await pacer.acquire()  # two in the last minute now
    waiting = asyncio.ensure_future(pacer.acquire())
    await asyncio.sleep(0)
    assert not waiting.done()  # the first slot frees at 60 s
    clock.advance(4.0)
    await waiting
    with pytest.raises(ScreeningUnavailableError):
        await pacer.acquire()  # the next slot frees at 116 s: 56 s away


def _image_part(url: str) -> dict[str, object]:
    return {"type": "image_url", "image_url": {"url": url}}


DATA_URL = "data:image/png;base64," + base64.b64encode(BLUE.data).decode()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"input": [_image_part(DATA_URL), _image_part(DATA_URL)]}, 400, "too_many_images"),
        ({"input": [_image_part("https://cdn.example/x.png")]}, 400, "image_url_unavailable"),
        ({"model": "text-moderation-latest", "input": [_image_part(DATA_URL)]}, 400, None),
        ({"model": "omni-moderation-9", "input": "x"}, 404, "model_not_found"),
    ],
)
async def test_the_fake_refuses_what_the_real_endpoint_refuses(
    fake_openai: FakeOpenAI, body: dict[str, object], status: int, code: str | None
) -> None:
    http = build_http_client(
        base_url=fake_openai.base_url, api_key="sk-test", organization=None, project=None
    )
    async with http:
        response = await http.post("moderations", json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
