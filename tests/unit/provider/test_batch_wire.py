"""Batch lines carry the member's safety identifier, never the deprecated `user`."""

from __future__ import annotations

import json

from bot.domain import ImageOptions, ImageRequest, InputImage
from bot.provider.batch_wire import request_line


def _body(request: ImageRequest) -> dict[str, object]:
    body = json.loads(request_line("job-1", request))["body"]
    assert isinstance(body, dict)
    return body


def test_generation_and_edit_lines_carry_safety_identifier_not_user() -> None:
    options = ImageOptions(model="gpt-image-2", size="1024x1024", quality="low")
    generation = ImageRequest("generate", "a fox", options, safety_identifier="abc")
    image = InputImage(b"\x89PNG", "image/png", 4, 4, "a.png")
    edit = ImageRequest("edit", "a fox", options, images=(image,), safety_identifier="abc")
    for body in (_body(generation), _body(edit)):
        assert body["safety_identifier"] == "abc"
        assert "user" not in body
