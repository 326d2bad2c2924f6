"""The fake's image output tokens for GPT Image 2.6, from published figures, not the catalog."""

from __future__ import annotations

import math

# gpt-image-2's per-image guide examples (openai-images-api.md §9 in the research notes: low
# $0.006/0.005/0.005, medium $0.053/0.041/0.041, high $0.211/0.165/0.165 for 1024x1024,
# 1024x1536, 1536x1024) at $30 per 1M image output tokens, rounded up.
_GUIDE = {
    "1024x1024": {"low": 200, "medium": 1767, "high": 7034},
    "1024x1536": {"low": 167, "medium": 1367, "high": 5500},
    "1536x1024": {"low": 167, "medium": 1367, "high": 5500},
}
# 2.6 (third-party measurements, features-and-apis-2026-12.md A): low and medium take 3-4x the
# tokens of 2.5, "high and above" the same. The fake bills the top of that range; for xhigh and
# max nothing is published, so it bills them as high ("the same as 2.5", whose only figure is
# gpt-image-2's). Flare with quality omitted "can reach ~5,800 tokens for a 1024x1024 image".
_FACTOR = {"low": 4, "medium": 4, "high": 1, "xhigh": 1, "max": 1}
_FLARE_AUTO_1024 = 5800
GPT_IMAGE_26 = ("gpt-image-2.6-flare", "gpt-image-2.6-sunburst")


def _pixels(size: str) -> int:
    width, height = (int(v) for v in size.split("x"))
    return width * height


def _scaled(tokens_1024: int, size: str) -> int:
    return math.ceil(tokens_1024 * _pixels(size) / (1024 * 1024))


def image_tokens_26(model: str, size: str, quality: str, *, asked: str) -> int:
    """One image's output tokens on a 2.6 model at a resolved size; `asked` is the request's
    quality ("auto" lets Flare spend up to its measured ceiling)."""
    if asked == "auto" and model == "gpt-image-2.6-flare":
        return _scaled(_FLARE_AUTO_1024, size)
    base = "high" if quality in ("xhigh", "max") else quality
    row = _GUIDE.get(size)
    tokens = row[base] if row else _scaled(_GUIDE["1024x1024"][base], size)
    return tokens * _FACTOR[quality]
