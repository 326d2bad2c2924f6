"""The fake Images API's own rules: IPM, validation, images, usage, streaming and faults."""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from bot.catalog.models import load_catalog
from bot.catalog.pricing import input_image_tokens
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
async def api(fake_openai: FakeOpenAI) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(fake_openai) as client:
        yield client


def _client(fake: FakeOpenAI, key: str = "sk-test") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=fake.base_url + "/", headers={"Authorization": f"Bearer {key}"}, trust_env=False
    )


def image_bytes(size: tuple[int, int], fmt: str = "PNG", mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (1, 2, 3, 0)[: len(mode)]).save(out, fmt)
    return out.getvalue()


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def decode(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


async def generate(api: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await api.post(
        "images/generations", json={"model": "gpt-image-1", "prompt": "x", **body}
    )


async def edit(
    api: httpx.AsyncClient,
    files: list[tuple[str, tuple[str, bytes, str]]],
    **fields: str,
) -> httpx.Response:
    data = {"model": "gpt-image-1", "prompt": "edit it", **fields}
    return await api.post("images/edits", data=data, files=files)


# ---- IPM -----------------------------------------------------------------------------------


async def test_ipm_rejects_images_beyond_the_trailing_minute() -> None:
    now = [0.0]
    async with FakeOpenAI(ipm=5, clock=lambda: now[0]) as fake, _client(fake) as api:
        assert (await generate(api, n=3)).status_code == 200
        now[0] = 10.0
        assert (await generate(api, n=2)).status_code == 200
        now[0] = 20.0
        refused = await generate(api, n=1)
        assert refused.status_code == 429
        assert error_of(refused)["code"] == "rate_limit_exceeded"
        assert refused.headers["Retry-After"] == "40"  # the first 3 images leave at t=60
        now[0] = 60.0
        assert (await generate(api, n=3)).status_code == 200
        now[0] = 65.0
        assert (await generate(api, n=1)).status_code == 429  # 2 (t=10) + 3 (t=60) in window
        assert fake.images_served == 5


async def test_ipm_counts_only_accepted_requests() -> None:
    async with FakeOpenAI(ipm=1, clock=lambda: 0.0) as fake, _client(fake) as api:
        assert (await generate(api, size="13x13")).status_code == 400
        assert (await generate(api)).status_code == 200
        assert (await generate(api)).status_code == 429


# ---- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"model": "gpt-image-9"}, 404, "model_not_found", "model"),
        ({"size": "512x512"}, 400, "invalid_value", "size"),
        ({"quality": "hd"}, 400, "invalid_value", "quality"),
        ({"background": "green"}, 400, "invalid_value", "background"),
        ({"output_format": "gif"}, 400, "invalid_value", "output_format"),
        ({"n": 11}, 400, "invalid_value", "n"),
        ({"n": "2"}, 400, "invalid_type", "n"),
        ({"response_format": "b64_json"}, 400, "unknown_parameter", "response_format"),
        ({"input_fidelity": "high"}, 400, "unknown_parameter", "input_fidelity"),
        (
            {"background": "transparent", "output_format": "jpeg"},
            400,
            "invalid_value",
            "background",
        ),
        ({"model": "gpt-image-2", "background": "transparent"}, 400, "invalid_value", "background"),
        ({"partial_images": 4, "stream": True}, 400, "invalid_value", "partial_images"),
        ({"prompt": ""}, 400, "missing_required_parameter", "prompt"),
    ],
)
async def test_generation_validation(
    api: httpx.AsyncClient, body: dict[str, Any], status: int, code: str, param: str
) -> None:
    response = await generate(api, **body)
    assert response.status_code == status
    assert (error_of(response)["code"], error_of(response)["param"]) == (code, param)
    assert response.headers["x-request-id"] == "req_1"


async def test_free_sizes_follow_the_model_rule(api: httpx.AsyncClient) -> None:
    ok = await generate(api, model="gpt-image-2", size="1280x720", quality="low")
    assert ok.status_code == 200
    assert decode(ok.json()["data"][0]["b64_json"]).size == (1280, 720)
    assert (await generate(api, model="gpt-image-2", size="1000x1000")).status_code == 400


async def test_retired_models_answer_model_not_found(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.retired_models.add("gpt-image-1")
    response = await generate(api)
    assert (response.status_code, error_of(response)["code"]) == (404, "model_not_found")


@pytest.mark.parametrize("key", ["sk-wrong", None])
async def test_bad_or_missing_key_is_401(fake_openai: FakeOpenAI, key: str | None) -> None:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=fake_openai.base_url + "/", headers=headers) as api:
        response = await generate(api)
    assert (response.status_code, error_of(response)["code"]) == (401, "invalid_api_key")
    assert not fake_openai.requests[0].authorized
    assert "sk-wrong" not in json.dumps(fake_openai.requests[0].headers)


async def test_moderation_block_names_the_request(api: httpx.AsyncClient) -> None:
    response = await generate(api, prompt="MODERATION_BLOCK")
    error = error_of(response)
    assert (response.status_code, error["code"]) == (400, "moderation_blocked")
    assert error["type"] == "image_generation_user_error"
    assert "req_1" in error["message"]


async def test_edit_mimetypes_are_checked(api: httpx.AsyncClient) -> None:
    png = image_bytes((64, 64))
    octet = await edit(api, [("image[]", ("a", png, "application/octet-stream"))])
    assert (error_of(octet)["code"], error_of(octet)["param"]) == (
        "unsupported_file_mimetype",
        "image",
    )
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\ngpt-image-1\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhi\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="image[]"; filename="a"\r\n\r\n'
        ).encode()
        + png
        + f"\r\n--{boundary}--\r\n".encode()
    )
    missing = await api.post(
        "images/edits",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert error_of(missing)["code"] == "missing_file_mimetype"


async def test_edit_mask_must_match_the_first_image(api: httpx.AsyncClient) -> None:
    image = ("image[]", ("a.png", image_bytes((64, 64)), "image/png"))
    bad_mask = ("mask", ("m.png", image_bytes((32, 32), mode="RGBA"), "image/png"))
    response = await edit(api, [image, bad_mask])
    assert (response.status_code, error_of(response)["param"]) == (400, "mask")
    good_mask = ("mask", ("m.png", image_bytes((64, 64), mode="RGBA"), "image/png"))
    assert (await edit(api, [image, good_mask])).status_code == 200
    opaque_mask = ("mask", ("m.png", image_bytes((64, 64)), "image/png"))
    assert error_of(await edit(api, [image, opaque_mask]))["param"] == "mask"


async def test_edit_field_rules(api: httpx.AsyncClient) -> None:
    image = [("image[]", ("a.png", image_bytes((64, 64)), "image/png"))]
    mini = await edit(api, image, model="gpt-image-1-mini", input_fidelity="high")
    assert (mini.status_code, error_of(mini)["param"]) == (400, "input_fidelity")
    moderation = await edit(api, image, moderation="low")
    assert error_of(moderation)["code"] == "unknown_parameter"
    empty = await edit(api, image, user="")
    assert (empty.status_code, error_of(empty)["param"]) == (400, "user")
    assert error_of(await edit(api, []))["code"] == "missing_required_parameter"


async def test_large_uploads_are_accepted(api: httpx.AsyncClient) -> None:
    big = image_bytes((2048, 2048))
    big += b"\0" * (5 * 1024 * 1024)  # trailing bytes after IEND; Pillow still reads it
    response = await edit(api, [("image[]", ("a.png", big, "image/png"))])
    assert response.status_code == 200


# ---- images and usage ----------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "pil"), [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")])
async def test_images_have_the_format_and_size_asked(
    api: httpx.AsyncClient, fmt: str, pil: str
) -> None:
    body = (await generate(api, output_format=fmt, size="1024x1536", quality="low")).json()
    with decode(body["data"][0]["b64_json"]) as img:
        assert (img.format, img.size) == (pil, (1024, 1536))
    assert (body["output_format"], body["size"], body["quality"]) == (fmt, "1024x1536", "low")


async def test_transparent_background_is_rgba_with_clear_pixels(api: httpx.AsyncClient) -> None:
    body = (await generate(api, background="transparent")).json()
    with decode(body["data"][0]["b64_json"]) as img:
        assert img.mode == "RGBA"
        assert img.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert body["background"] == "transparent"


async def test_noise_images_do_not_compress(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    flat = base64.b64decode((await generate(api, quality="low")).json()["data"][0]["b64_json"])
    fake_openai.noise = True
    noisy = base64.b64decode((await generate(api, quality="low")).json()["data"][0]["b64_json"])
    assert len(flat) < 100_000
    assert len(noisy) > 1024 * 1024 * 3 * 0.95


async def test_usage_follows_the_token_tables(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    prompt = "a lighthouse at dusk, oil painting"
    body = (await generate(api, prompt=prompt, n=2)).json()  # auto quality -> medium
    tokens = math.ceil(len(prompt.encode()) / 4) + 6
    assert body["quality"] == "medium"
    assert body["usage"]["input_tokens_details"] == {"text_tokens": tokens, "image_tokens": 0}
    assert body["usage"]["output_tokens"] == 2 * 1056
    fake_openai.auto_quality = "high"
    body = (await generate(api)).json()
    assert (body["quality"], body["usage"]["output_tokens"]) == ("high", 4160)


async def test_edit_usage_counts_input_images_at_the_model_fidelity(api: httpx.AsyncClient) -> None:
    files = [("image[]", ("a.png", image_bytes((1536, 1024)), "image/png"))]
    spec = load_catalog().get("gpt-image-2")
    body = (await edit(api, files, model="gpt-image-2", quality="low")).json()
    assert body["size"] == "1536x1024"  # auto follows the first input's orientation
    expected = input_image_tokens(spec, 1536, 1024, high_fidelity=True)
    assert body["usage"]["input_tokens_details"]["image_tokens"] == expected
    low = (await edit(api, files, model="gpt-image-1", input_fidelity="low")).json()
    spec1 = load_catalog().get("gpt-image-1")
    expected_low = input_image_tokens(spec1, 1536, 1024, high_fidelity=False)
    assert low["usage"]["input_tokens_details"]["image_tokens"] == expected_low


# ---- streaming and faults ------------------------------------------------------------------


async def test_stream_sends_partials_then_completed(api: httpx.AsyncClient) -> None:
    response = await generate(api, stream=True, partial_images=2)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line[7:] for line in response.text.splitlines() if line.startswith("event: ")]
    assert events == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    datas = [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data:")
    ]
    assert [d.get("partial_image_index") for d in datas[:2]] == [0, 1]
    assert datas[-1]["usage"]["output_tokens"] == 1056 + 200
    assert datas[0]["size"] == "auto"  # events echo the requested settings


async def test_scripted_failures_run_in_order(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue_failure(503, times=2)
    fake_openai.enqueue_failure(429, "insufficient_quota", retry_after=3)
    statuses = [(await generate(api)).status_code for _ in range(4)]
    assert statuses == [503, 503, 429, 200]
    assert fake_openai.requests[2].json == {"model": "gpt-image-1", "prompt": "x"}


async def test_scripted_429_carries_retry_after(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue_failure(429, "rate_limit_exceeded", retry_after=2.5)
    response = await generate(api)
    assert response.headers["Retry-After"] == "3"
    assert error_of(response)["type"] == "requests"


async def test_drop_closes_without_a_response(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.drop_next()
    with pytest.raises(httpx.RemoteProtocolError):
        await generate(api)
    assert (await generate(api)).status_code == 200


async def test_hang_delays_the_answer(api: httpx.AsyncClient, fake_openai: FakeOpenAI) -> None:
    fake_openai.hang_next(5)
    with pytest.raises(httpx.ReadTimeout):
        await api.post(
            "images/generations", json={"model": "gpt-image-1", "prompt": "x"}, timeout=0.1
        )
