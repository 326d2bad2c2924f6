"""A moderation verdict says whether the image was judged (`category_applied_input_types`)."""

from __future__ import annotations

from bot.provider.moderation import parse_verdict


def _payload(applied: dict[str, list[str]] | None) -> dict[str, object]:
    result: dict[str, object] = {"flagged": False, "categories": {"violence": False},
                                 "category_scores": {"violence": 0.01}}  # fmt: skip
    if applied is not None:
        result["category_applied_input_types"] = applied
    return {"results": [result]}


def test_an_image_is_judged_only_when_some_category_applied_to_it() -> None:
    judged = parse_verdict(_payload({"violence": ["text", "image"], "hate": ["text"]}), None)
    assert judged.image_judged
    text_only = parse_verdict(_payload({"violence": ["text"], "hate": ["text"]}), None)
    assert not text_only.image_judged  # a text-only endpoint: the image was not screened
    # no field: a text-only model (legacy text-moderation, or a gateway in front of one)
    assert not parse_verdict(_payload(None), None).image_judged
