"""The fake's December 2026 request rules: markup, safety_identifier, complexity, deep qualities."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.fakes.openai_server import FakeOpenAI

Files = list[tuple[str, tuple[str, bytes, str]]]


@pytest.fixture
async def api(fake_openai: FakeOpenAI) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {fake_openai.api_key}"}
    base = fake_openai.base_url + "/"
    async with httpx.AsyncClient(base_url=base, headers=headers, trust_env=False) as client:
        yield client


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (9, 9, 9, 0)[: len(mode)]).save(out, "PNG")
    return out.getvalue()


def parts(*, markup: tuple[int, int] | None = None, mask: bool = False) -> Files:
    files: Files = [("image[]", ("a.png", png((64, 64)), "image/png"))]
    if markup is not None:
        files.append(("markup", ("m.png", png(markup, "RGBA"), "image/png")))
    if mask:
        files.append(("mask", ("k.png", png((64, 64), "RGBA"), "image/png")))
    return files


def error(response: httpx.Response) -> tuple[int, str | None, str | None]:
    body: dict[str, Any] = response.json()["error"]
    return response.status_code, body["code"], body["param"]


async def generate(api: httpx.AsyncClient, model: str, **body: Any) -> httpx.Response:
    return await api.post("images/generations", json={"model": model, "prompt": "x", **body})


async def edit(api: httpx.AsyncClient, model: str, files: Files) -> httpx.Response:
    return await api.post("images/edits", data={"model": model, "prompt": "p"}, files=files)


async def test_markup_is_taken_on_2_5_and_2_6_edits(api: httpx.AsyncClient) -> None:
    for model in ("gpt-image-2.6-sunburst", "gpt-image-2.6-flare", "gpt-image-2.5-sunburst"):
        assert (await edit(api, model, parts(markup=(64, 64)))).status_code == 200


@pytest.mark.parametrize(
    ("model", "files"),
    [
        ("gpt-image-2", parts(markup=(64, 64))),  # not a model that takes markup
        ("gpt-image-1.5", parts(markup=(64, 64))),
        ("gpt-image-2.6-sunburst", parts(markup=(64, 64), mask=True)),  # never with a mask
        ("gpt-image-2.6-sunburst", parts(markup=(32, 64))),  # must match the first image
    ],
)
async def test_markup_is_refused_where_the_docs_refuse_it(
    api: httpx.AsyncClient, model: str, files: Files
) -> None:
    response = await edit(api, model, files)
    assert error(response) == (400, "invalid_value", "markup")
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_safety_identifier_is_taken_and_echoed_and_user_still_honoured(
    api: httpx.AsyncClient,
) -> None:
    new = await generate(api, "gpt-image-2", safety_identifier="h-1")
    old = await generate(api, "gpt-image-2", user="h-2")
    both = await generate(api, "gpt-image-2", user="h-3", safety_identifier="h-4")
    assert [r.json()["safety_identifier"] for r in (new, old, both)] == ["h-1", "h-2", "h-4"]
    assert "safety_identifier" not in (await generate(api, "gpt-image-2")).json()
    bad = await generate(api, "gpt-image-2", safety_identifier=7)
    assert error(bad) == (400, "invalid_type", "safety_identifier")


@pytest.mark.parametrize(
    ("model", "quality", "ok"),
    [
        ("gpt-image-2.5-flare", "xhigh", True),
        ("gpt-image-2.6-sunburst", "max", True),
        ("gpt-image-2", "xhigh", False),
        ("gpt-image-1.5", "max", False),
    ],
)
async def test_deep_qualities_only_where_documented(
    api: httpx.AsyncClient, model: str, quality: str, ok: bool
) -> None:
    response = await generate(api, model, quality=quality, size="1024x1024")
    if ok:
        assert response.json()["quality"] == quality
        assert response.json()["usage"]["output_tokens"] == 7033  # billed as high
    else:
        assert error(response) == (400, "invalid_value", "quality")


@pytest.mark.parametrize(
    ("model", "value", "status"),
    [
        ("gpt-image-2.6-flare", "low", 200),
        ("gpt-image-2.6-flare", "extreme", 400),
        ("gpt-image-2.5-sunburst", "low", 400),  # a 2.6 field
        ("gpt-image-2", "high", 400),
    ],
)
async def test_complexity_is_a_2_6_field(
    api: httpx.AsyncClient, model: str, value: str, status: int
) -> None:
    response = await generate(api, model, complexity=value)
    assert response.status_code == status
    if status == 400:
        assert error(response) == (400, "invalid_value", "complexity")


async def test_models_lists_the_2_6_models(api: httpx.AsyncClient) -> None:
    listed = {m["id"] for m in (await api.get("models")).json()["data"]}
    assert {"gpt-image-2.6-flare", "gpt-image-2.6-sunburst", "gpt-image-2"} <= listed


async def test_an_unverified_organization_is_told_so_for_the_model_it_asked(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue_failure(403)
    response = await generate(api, "gpt-image-2.6-sunburst")
    assert error(response) == (403, None, None)
    assert "must be verified to use the model `gpt-image-2.6-sunburst`" in response.text


@pytest.mark.parametrize(
    "code", ["insufficient_quota", "credit_balance_exhausted", "project_spend_limit_exceeded"]
)
async def test_quota_429s_carry_the_insufficient_quota_type(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI, code: str
) -> None:
    fake_openai.enqueue_failure(429, code)
    response = await generate(api, "gpt-image-2")
    assert error(response) == (429, code, None)
    assert response.json()["error"]["type"] == "insufficient_quota"
    assert "Retry-After" not in response.headers
