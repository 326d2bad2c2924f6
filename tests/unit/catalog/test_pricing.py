"""Pricing: published prices reproduced, real cost from usage, and estimates as upper bounds."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given, settings, strategies as st

from bot.catalog.fields import AUTO_QUALITIES
from bot.catalog.models import ModelSpec, load_catalog
from bot.catalog.pricing import (
    TEXT_OVERHEAD_TOKENS,
    CostEstimate,
    cost_of,
    estimate,
    input_image_tokens,
    list_image_price,
    nominal_output_tokens,
    text_tokens_upper_bound,
)
from bot.domain import QUALITIES, Fidelity, ImageOptions, Quality, TokenUsage
from bot.errors import InvalidOptionError

CATALOG = load_catalog()
SIZES = ("1024x1024", "1024x1536", "1536x1024")

# USD per image in SIZES order: docs/sources.md#s6c (gpt-image-1, -1.5, -1-mini), #s9 (gpt-image-2)
PUBLISHED = {
    "gpt-image-1": {
        "low": ("0.011", "0.016", "0.016"),
        "medium": ("0.042", "0.063", "0.063"),
        "high": ("0.167", "0.25", "0.25"),
    },
    "gpt-image-1.5": {
        "low": ("0.009", "0.013", "0.013"),
        "medium": ("0.034", "0.05", "0.05"),
        "high": ("0.133", "0.2", "0.2"),
    },
    "gpt-image-1-mini": {
        "low": ("0.005", "0.006", "0.006"),
        "medium": ("0.011", "0.015", "0.015"),
        "high": ("0.036", "0.052", "0.052"),
    },
    "gpt-image-2": {
        "low": ("0.006", "0.005", "0.005"),
        "medium": ("0.053", "0.041", "0.041"),
        "high": ("0.211", "0.165", "0.165"),
    },
}


def _published(models: Sequence[str]) -> list[Any]:
    return [
        pytest.param(model, size, quality, Decimal(usd), id=f"{model}-{size}-{quality}")
        for model in models
        for quality, prices in PUBLISHED[model].items()
        for size, usd in zip(SIZES, prices, strict=True)
    ]


def _micro(usd: Decimal) -> int:
    return int(usd * 1_000_000)


def test_gpt_image_1_low_square_is_272_tokens_and_10880_micro_usd() -> None:
    spec = CATALOG.get("gpt-image-1")
    tokens = nominal_output_tokens(spec, "1024x1024", "low")
    assert tokens == 272
    assert cost_of(spec, TokenUsage(image_output=tokens)) == 10_880


@pytest.mark.parametrize(
    ("model", "size", "quality", "usd"), _published(["gpt-image-1", "gpt-image-1.5"])
)
def test_token_tables_reproduce_published_prices(
    model: str, size: str, quality: str, usd: Decimal
) -> None:
    spec = CATALOG.get(model)
    cost = cost_of(spec, TokenUsage(image_output=nominal_output_tokens(spec, size, quality)))
    # The published figures are rounded to a tenth of a cent, or to 1% for the larger ones.
    assert abs(cost - _micro(usd)) <= max(1_000, _micro(usd) // 100)


@pytest.mark.parametrize(("model", "size", "quality", "usd"), _published(["gpt-image-1-mini"]))
def test_mini_list_prices_come_from_image_prices(
    model: str, size: str, quality: str, usd: Decimal
) -> None:
    spec = CATALOG.get(model)
    assert list_image_price(spec, size, quality) == _micro(usd)
    options = ImageOptions(model=model, size=size, quality=quality)  # type: ignore[arg-type]
    assert estimate(spec, options, prompt="").micro_usd >= _micro(usd)


@pytest.mark.parametrize(("model", "size", "quality", "usd"), _published(["gpt-image-2"]))
def test_gpt_image_2_tokens_price_at_least_the_guide_and_within_one_token(
    model: str, size: str, quality: str, usd: Decimal
) -> None:
    spec = CATALOG.get(model)
    cost = cost_of(spec, TokenUsage(image_output=nominal_output_tokens(spec, size, quality)))
    assert 0 <= cost - _micro(usd) < 30  # one output token costs 30 micro-USD


GPT_IMAGE_2_5 = ("gpt-image-2.5-flare", "gpt-image-2.5-sunburst")


@pytest.mark.parametrize("model", GPT_IMAGE_2_5)
def test_gpt_image_2_5_is_priced_at_gpt_image_2_rates(model: str) -> None:
    # Public gateway docs: the 2.5 models are forwarded at gpt-image-2's token rates (UNCONFIRMED
    # by OpenAI; marked so in models.toml). 100 text x $5 + 1000 image x $8 + 1767 out x $30.
    usage = TokenUsage(text_input=100, image_input=1000, image_output=1767)
    assert cost_of(CATALOG.get(model), usage) == 500 + 8_000 + 53_010
    assert CATALOG.get(model).prices == CATALOG.get("gpt-image-2").prices


@pytest.mark.parametrize(
    ("model", "size", "quality", "usd"),
    [
        pytest.param(twin, size, quality, usd, id=f"{twin}-{size}-{quality}")
        for _, size, quality, usd in (p.values for p in _published(["gpt-image-2"]))
        for twin in GPT_IMAGE_2_5
    ],
)
def test_gpt_image_2_5_estimates_cover_gpt_image_2_prices(
    model: str, size: str, quality: str, usd: Decimal
) -> None:
    spec = CATALOG.get(model)
    options = ImageOptions(model=model, size=size, quality=quality)  # type: ignore[arg-type]
    cost = cost_of(spec, TokenUsage(image_output=nominal_output_tokens(spec, size, quality)))
    assert 0 <= cost - _micro(usd) < 30
    assert estimate(spec, options, prompt="a lighthouse").micro_usd >= _micro(usd)


@pytest.mark.parametrize(
    ("model", "usage", "expected"),
    [
        ("gpt-image-1", TokenUsage(), 0),
        ("gpt-image-1", TokenUsage(image_output=4160), 166_400),
        # 60 uncached x $5 + 40 cached x $1.25 + 500 x $10 + 500 cached x $2.50 + 4160 x $40
        (
            "gpt-image-1",
            TokenUsage(
                text_input=100,
                cached_text_input=40,
                image_input=1000,
                cached_image_input=500,
                image_output=4160,
            ),
            300 + 50 + 5_000 + 1_250 + 166_400,
        ),
        # gpt-image-1.5 bills text output at $10/1M: 10 x $5 + 272 x $32 + 50 x $10
        ("gpt-image-1.5", TokenUsage(text_input=10, image_output=272, text_output=50), 9_254),
        # gpt-image-1 does not bill text output
        ("gpt-image-1", TokenUsage(image_output=272, text_output=50), 10_880),
        # one cached text token on mini is $0.20/1M = 0.2 micro-USD: rounded up to 1
        ("gpt-image-1-mini", TokenUsage(text_input=1, cached_text_input=1), 1),
        # 0.2 + 0.25 micro-USD: rounded up once at the end (1), not per line (2)
        (
            "gpt-image-1-mini",
            TokenUsage(text_input=1, cached_text_input=1, image_input=1, cached_image_input=1),
            1,
        ),
        # 3 text tokens at $2/1M = 6 micro-USD exactly, no rounding
        ("gpt-image-1-mini", TokenUsage(text_input=3), 6),
    ],
    ids=[
        "nothing",
        "image-output",
        "cached-text-and-image",
        "text-output-1.5",
        "text-output-not-billed",
        "round-up",
        "round-once",
        "exact",
    ],
)
def test_cost_of_usage(model: str, usage: TokenUsage, expected: int) -> None:
    assert cost_of(CATALOG.get(model), usage) == expected


@pytest.mark.parametrize(
    ("model", "width", "height", "high", "expected"),
    [
        ("gpt-image-1", 1024, 1024, False, 194),
        ("gpt-image-1", 1024, 1024, True, 4290),
        ("gpt-image-1", 1536, 1024, False, 323),
        ("gpt-image-1", 1536, 1024, True, 6467),
        ("gpt-image-1", 1024, 1536, True, 6467),
        ("gpt-image-1", 4096, 4096, False, 194),
        ("gpt-image-1", 3000, 1000, False, 65 + 3 * 129),
        ("gpt-image-1", 300, 200, False, 323),
        ("gpt-image-2", 1024, 1024, False, 4290),
        ("gpt-image-2", 1536, 1024, False, 6467),
    ],
    ids=[
        "square-low",
        "square-high",
        "landscape-low",
        "landscape-high",
        "portrait-high",
        "large-square",
        "3-to-1",
        "small",
        "gpt2-always-high-square",
        "gpt2-always-high-landscape",
    ],
)
def test_input_image_tokens(model: str, width: int, height: int, high: bool, expected: int) -> None:
    assert input_image_tokens(CATALOG.get(model), width, height, high_fidelity=high) == expected


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [("", 0), ("a cat", 5), ("é" * 10, 20), ("🐱", 4)],
    ids=["empty", "ascii", "two-byte", "emoji"],
)
def test_text_tokens_upper_bound_counts_utf8_bytes(prompt: str, expected: int) -> None:
    assert text_tokens_upper_bound(prompt) == expected + TEXT_OVERHEAD_TOKENS


@pytest.mark.parametrize(
    ("size", "quality", "expected"),
    [
        ("1024x1024", "high", 7034),
        ("1536x1024", "medium", 1367),
        ("2048x2048", "high", 4 * 7034),
        ("2048x1152", "high", 15_827),  # ceil(7034 x 2048 x 1152 / 1024^2)
        ("3840x2160", "low", 1_583),  # ceil(200 x 8,294,400 / 1024^2 = 1582.03)
    ],
    ids=["table", "table-medium", "4x-pixels", "free-size", "4k-low"],
)
def test_gpt_image_2_output_tokens_scale_by_pixels(size: str, quality: str, expected: int) -> None:
    assert nominal_output_tokens(CATALOG.get("gpt-image-2"), size, quality) == expected


@pytest.mark.parametrize(
    ("model", "size", "quality", "error"),
    [
        ("gpt-image-1", "auto", "low", ValueError),
        ("gpt-image-1", "1024x1024", "auto", ValueError),
        ("gpt-image-1", "512x512", "low", InvalidOptionError),
    ],
    ids=["auto-size", "auto-quality", "unknown-size"],
)
def test_nominal_output_tokens_needs_a_resolved_valid_request(
    model: str, size: str, quality: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        nominal_output_tokens(CATALOG.get(model), size, quality)


def test_estimate_adds_up_images_partials_and_prompt() -> None:
    spec = CATALOG.get("gpt-image-1")
    options = ImageOptions(model=spec.name, size="1024x1024", quality="low", n=2, partial_images=1)
    result = estimate(spec, options, prompt="a cat")
    # 2 x (272 + 100 partial) x $40 + (5 + overhead) x $5
    assert result == CostEstimate(
        micro_usd=2 * 372 * 40 + (5 + TEXT_OVERHEAD_TOKENS) * 5,
        images=2,
        input_tokens=5 + TEXT_OVERHEAD_TOKENS,
        output_tokens=2 * 372,
    )
    assert result.tokens == 5 + TEXT_OVERHEAD_TOKENS + 744


def test_estimate_reserves_text_output_only_where_it_is_billed() -> None:
    options = ImageOptions(model="x", size="1024x1024", quality="low")
    spec = CATALOG.get("gpt-image-1.5")
    extra = spec.text_output_tokens_estimate
    result = estimate(spec, replace(options, model=spec.name), prompt="")
    assert result.micro_usd == 272 * 32 + extra * 10 + TEXT_OVERHEAD_TOKENS * 5
    assert result.output_tokens == 272 + extra
    plain = CATALOG.get("gpt-image-1")
    assert estimate(plain, options, prompt="").output_tokens == 272


def test_mini_estimate_uses_the_list_price_and_its_token_equivalent() -> None:
    spec = CATALOG.get("gpt-image-1-mini")
    options = ImageOptions(model=spec.name, size="1024x1024", quality="low")
    result = estimate(spec, options, prompt="")
    assert result.micro_usd == 5_000 + TEXT_OVERHEAD_TOKENS * 2
    assert result.output_tokens == 625  # $0.005 at $8/1M, not the table's 272


@pytest.mark.parametrize("model", CATALOG.names())
def test_auto_is_priced_as_the_dearest_choice(model: str) -> None:
    spec = CATALOG.get(model)
    auto = estimate(spec, ImageOptions(model=model), prompt="p").micro_usd
    explicit = [
        estimate(spec, ImageOptions(model=model, size=size, quality=q), prompt="p").micro_usd  # type: ignore[arg-type]
        for size in spec.auto_size_candidates()
        for q in AUTO_QUALITIES
    ]
    assert auto == max(explicit)
    high_square = ImageOptions(model=model, size="1024x1024", quality="high")
    assert auto >= estimate(spec, high_square, prompt="p").micro_usd


@pytest.mark.parametrize("model", ["gpt-image-1", "gpt-image-1.5"])
def test_edit_inputs_are_priced_at_high_fidelity_whatever_was_asked(model: str) -> None:
    spec = CATALOG.get(model)
    inputs = [(1024, 1024), (1536, 1024)]
    low = ImageOptions(model=model, size="1024x1024", quality="low", input_fidelity="low")
    low_cost = estimate(spec, low, prompt="p", input_sizes=inputs)
    high_cost = estimate(spec, replace(low, input_fidelity="high"), prompt="p", input_sizes=inputs)
    assert low_cost == high_cost
    assert low_cost.input_tokens == TEXT_OVERHEAD_TOKENS + 1 + 4290 + 6467


@pytest.mark.parametrize(
    ("options", "option"),
    [
        (ImageOptions(model="gpt-image-1", n=0), "count"),
        (ImageOptions(model="gpt-image-1", size="512x512"), "size"),
    ],
    ids=["n-zero", "bad-size"],
)
def test_estimate_refuses_invalid_options(options: ImageOptions, option: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        estimate(CATALOG.get("gpt-image-1"), options, prompt="p")
    assert caught.value.option == option


# --- the upper-bound property ----------------------------------------------------------------

PROMPT = "a watercolour fox in the snow, 狐 🦊, " * 12
EDIT_INPUTS: tuple[tuple[tuple[int, int], ...], ...] = (
    (),
    ((1024, 1024),),
    ((1536, 1024), (1024, 1024), (3000, 1000), (512, 2048)),
)
# Framing tokens the API plausibly adds to the prompt (docs/sources.md#input-image-tokens: about
# +6 on generations).
PLAUSIBLE_OVERHEAD = 64


def _per_image_outputs(spec: ModelSpec, size: str, quality: str) -> tuple[int, ...]:
    """Output tokens the API might report per image: the table's, or (mini) the list price's."""
    nominal = nominal_output_tokens(spec, size, quality)
    listed = list_image_price(spec, size, quality) * 1_000_000
    return (nominal, -(-listed // spec.prices.image_output))


def _reported_usages(
    spec: ModelSpec, options: ImageOptions, prompt: str, inputs: Sequence[tuple[int, int]]
) -> Iterator[TokenUsage]:
    """Every usage the API could plausibly report for this request, at its real fidelity."""
    high = options.input_fidelity == "high"
    image_in = sum(input_image_tokens(spec, w, h, high_fidelity=high) for w, h in inputs)
    sizes = spec.auto_size_candidates() if options.size == "auto" else (options.size,)
    qualities = AUTO_QUALITIES if options.quality == "auto" else (options.quality,)
    text_out = spec.text_output_tokens_estimate * options.n if spec.prices.text_output else 0
    for size in sizes:
        for quality in qualities:
            for per_image in _per_image_outputs(spec, size, quality):
                partial = options.partial_images * spec.partial_image_tokens
                yield TokenUsage(
                    text_input=len(prompt.encode()) + PLAUSIBLE_OVERHEAD,
                    image_input=image_in,
                    image_output=options.n * (per_image + partial),
                    text_output=text_out,
                )


def _grid() -> list[Any]:
    return [
        pytest.param(model, size, quality, id=f"{model}-{size}-{quality}")
        for model, spec in CATALOG.models.items()
        for size in spec.sizes
        for quality in QUALITIES
        if quality in spec.qualities
    ]


@pytest.mark.parametrize(("model", "size", "quality"), _grid())
def test_estimate_bounds_every_plausible_cost(model: str, size: str, quality: Quality) -> None:
    spec = CATALOG.get(model)
    fidelities: tuple[Fidelity | None, ...] = ("low", "high") if spec.input_fidelity else (None,)
    checked = 0
    for n in range(1, 11):
        for inputs in EDIT_INPUTS:
            for partial_images in (0, 3):
                for fidelity in fidelities:
                    options = ImageOptions(
                        model=model,
                        size=size,
                        quality=quality,
                        n=n,
                        input_fidelity=fidelity if inputs else None,
                        partial_images=partial_images,
                    )
                    bound = estimate(spec, options, prompt=PROMPT, input_sizes=inputs)
                    for usage in _reported_usages(spec, options, PROMPT, inputs):
                        assert bound.micro_usd >= cost_of(spec, usage), (options, usage)
                        assert bound.input_tokens >= usage.input_total
                        assert bound.output_tokens >= usage.output_total
                        checked += 1
    assert checked >= 10 * len(EDIT_INPUTS) * 2


@st.composite
def _free_sizes(draw: st.DrawFn) -> str:
    spec = CATALOG.get("gpt-image-2")
    assert spec.free_size is not None
    rule = spec.free_size
    width = rule.multiple * draw(st.integers(1, rule.max_edge // rule.multiple))
    # Draw the height inside the rule's bounds for this width, so few examples are discarded.
    low = max(width / rule.max_ratio, rule.min_pixels / width) / rule.multiple
    high = min(rule.max_edge, width * rule.max_ratio, rule.max_pixels / width) / rule.multiple
    assume(math.ceil(low) <= int(high))
    height = rule.multiple * draw(st.integers(math.ceil(low), int(high)))
    assume(rule.problem(width, height) is None)
    return f"{width}x{height}"


@settings(max_examples=150, deadline=None)
@given(
    size=_free_sizes(),
    prompt=st.text(max_size=400),
    quality=st.sampled_from(CATALOG.get("gpt-image-2").qualities),
    n=st.integers(1, 10),
    partial_images=st.integers(0, 3),
    inputs=st.lists(st.tuples(st.integers(1, 6000), st.integers(1, 6000)), max_size=4),
    overhead=st.integers(0, PLAUSIBLE_OVERHEAD),
    cached_share=st.floats(0, 1),
)
def test_estimate_bounds_gpt_image_2_free_sizes(
    size: str,
    prompt: str,
    quality: Quality,
    n: int,
    partial_images: int,
    inputs: list[tuple[int, int]],
    overhead: int,
    cached_share: float,
) -> None:
    spec = CATALOG.get("gpt-image-2")
    assert spec.validate_size(size) == size
    options = ImageOptions(
        model=spec.name, size=size, quality=quality, n=n, partial_images=partial_images
    )
    bound = estimate(spec, options, prompt=prompt, input_sizes=inputs)
    for usage in _reported_usages(spec, options, prompt, inputs):
        usage = replace(usage, text_input=len(prompt.encode()) + overhead)
        usage = replace(usage, cached_image_input=int(usage.image_input * cached_share))
        assert bound.micro_usd >= cost_of(spec, usage)
        assert bound.tokens >= usage.input_total + usage.output_total
