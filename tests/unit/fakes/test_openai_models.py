"""The fake's own model table: figures as OpenAI documents them, and the catalog held to them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.catalog.models import load_catalog
from bot.catalog.pricing import estimate
from bot.domain import ImageOptions
from tests.fakes.openai_models import MODELS
from tests.fakes.openai_outputs import input_image_tokens


@pytest.mark.parametrize(
    ("model", "size", "quality", "tokens"),
    [
        ("gpt-image-1", "1536x1024", "high", 6208),  # the guide's cost table
        ("gpt-image-1.5", "1024x1024", "low", 272),
        ("gpt-image-1-mini", "1024x1024", "low", 625),  # $0.005 list price at $8 per 1M
        ("gpt-image-2", "1024x1024", "medium", 1767),  # $0.053 at $30 per 1M
        ("gpt-image-2", "2048x2048", "low", 800),  # a free size scales by pixels
        ("gpt-image-2.5-flare", "1024x1024", "max", 7033),  # billed as high
        ("gpt-image-2.6-sunburst", "1536x1024", "low", 668),  # 4x 2.5; ~664 measured
        ("gpt-image-2.6-flare", "1536x1024", "high", 5500),  # high: as 2.5
    ],
)
def test_output_tokens_follow_the_documented_figures(
    model: str, size: str, quality: str, tokens: int
) -> None:
    assert MODELS[model].tokens_for(size, quality) == tokens


@pytest.mark.parametrize(
    ("width", "height", "high", "tokens"),
    [
        (1024, 1024, False, 194),  # 1 tile: 65 + 129
        (1024, 1024, True, 4290),  # + 4096 for a square image
        (1536, 1024, False, 323),  # 2 tiles
        (1536, 1024, True, 6467),  # + 6144 otherwise
        (4096, 1024, False, 581),  # fit in 2048: 2048x512, 4 tiles
    ],
)
def test_input_image_tokens_follow_the_vision_guide(
    width: int, height: int, high: bool, tokens: int
) -> None:
    assert input_image_tokens(width, height, high_fidelity=high) == tokens


def test_december_2026_models_and_fields_are_in_the_table() -> None:
    flare, sunburst = MODELS["gpt-image-2.6-flare"], MODELS["gpt-image-2.6-sunburst"]
    assert flare.complexity and sunburst.markup and "xhigh" in flare.qualities
    assert MODELS["gpt-image-2.5-sunburst"].markup and not MODELS["gpt-image-2.5-flare"].complexity
    assert not MODELS["gpt-image-2"].markup and "max" not in MODELS["gpt-image-2"].qualities
    assert sunburst.prices.image_output == Decimal(30)
    assert MODELS["gpt-image-1.5"].prices.halved().image_output == Decimal(16)


def test_the_bots_estimate_covers_what_the_documented_table_bills() -> None:
    """A catalog entry that prices an image below the documentation fails here."""
    catalog = load_catalog()
    short: list[str] = []
    for name in catalog.names():
        spec, model = catalog.get(name), MODELS[name]
        for size in ("1024x1024", "1536x1024", "1024x1536"):
            for quality in ("low", "medium", "high"):
                options = ImageOptions(model=name, size=size, quality=quality)
                bound = estimate(spec, options, prompt="").micro_usd
                billed = model.tokens_for(size, quality) * model.prices.image_output
                if bound < billed:  # USD per 1M tokens x tokens = micro-USD
                    short.append(f"{name} {size} {quality}: {bound} < {billed}")
    assert short == []
