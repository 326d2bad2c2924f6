"""One request in each provider's dialect: paths, model ids, edit encodings, response_format."""

from __future__ import annotations

import base64
import json

from bot.domain import ImageOptions, ImageRequest, InputImage
from bot.provider.dialect import prepare, read_images
from bot.provider.profiles import load_profile

PNG = InputImage(data=b"\x89PNG fake", mime="image/png", width=8, height=8)


def request(operation: str = "generate", images: int = 0) -> ImageRequest:
    return ImageRequest(
        operation=operation,  # type: ignore[arg-type]
        prompt="a fox",
        options=ImageOptions(model="gpt-image-2", size="1024x1024", quality="low"),
        images=(PNG,) * images,
    )


def test_openai_never_sends_response_format_and_keeps_its_paths() -> None:
    path, kwargs = prepare(load_profile("openai", ""), request(), stream=False)
    assert path == "images/generations"
    assert kwargs["json"]["model"] == "gpt-image-2"
    assert "response_format" not in kwargs["json"]


def test_azure_names_the_deployment_in_the_path_and_sends_image_brackets() -> None:
    path, kwargs = prepare(load_profile("azure", ""), request("edit", images=1), stream=False)
    assert path == "deployments/gpt-image-2/images/edits"
    assert [name for name, _ in kwargs["files"]] == ["image[]"]


def test_vercel_prefixes_the_id_and_sends_edits_as_json_data_uris() -> None:
    path, kwargs = prepare(load_profile("vercel", ""), request("edit", images=2), stream=False)
    body = kwargs["json"]
    assert path == "images/edits" and body["model"] == "openai/gpt-image-2"
    assert body["response_format"] == "b64_json"
    uri = "data:image/png;base64," + base64.b64encode(PNG.data).decode()
    assert [i["image_url"] for i in body["images"]] == [uri, uri]


def test_lumenfall_asks_for_base64_on_multipart_edits_with_image_parts() -> None:
    _, kwargs = prepare(load_profile("lumenfall", ""), request("edit", images=2), stream=False)
    assert kwargs["data"]["response_format"] == "b64_json"
    assert [name for name, _ in kwargs["files"]] == ["image", "image"]


async def test_a_data_uri_in_b64_json_is_read_as_the_image() -> None:
    body = {"data": [{"b64_json": "data:image/png;base64," + base64.b64encode(b"IMG").decode()}]}
    _, images = await read_images(json.dumps(body).encode(), None)
    assert images == (b"IMG",)
