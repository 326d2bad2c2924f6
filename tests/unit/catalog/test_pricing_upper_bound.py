"""The estimate of every catalog model is never below what the fake Images API bills."""

from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st

from bot.catalog.models import ModelSpec, load_catalog
from bot.catalog.pricing import cost_of, estimate
from bot.domain import ImageOptions
from bot.provider.wire import parse_usage
from tests.fakes.openai_models import MODELS as FAKE_MODELS
from tests.fakes.openai_outputs import resolved_size, usage
from tests.fakes.openai_rules import Call

CATALOG = load_catalog()
MODELS = CATALOG.names()
NEW_MODELS = ("gpt-image-2.6-flare", "gpt-image-2.6-sunburst")


def _free_size(spec: ModelSpec, draw: st.DrawFn) -> str:
    rule = spec.free_size
    assert rule is not None
    width = rule.multiple * draw(st.integers(1, rule.max_edge // rule.multiple))
    lo = max(width / rule.max_ratio, rule.min_pixels / width) / rule.multiple
    hi = min(rule.max_edge, width * rule.max_ratio, rule.max_pixels / width) / rule.multiple
    if math.ceil(lo) > int(hi):
        return spec.resolved_sizes()[0]
    height = rule.multiple * draw(st.integers(math.ceil(lo), int(hi)))
    return f"{width}x{height}" if rule.problem(width, height) is None else "auto"


@st.composite
def _requests(draw: st.DrawFn) -> tuple[ModelSpec, str, str, int]:
    spec = CATALOG.get(draw(st.sampled_from(MODELS)))
    listed = st.sampled_from(spec.sizes)
    size = draw(listed) if spec.free_size is None or draw(st.booleans()) else None
    if size is None:
        size = _free_size(spec, draw)
    return spec, size, draw(st.sampled_from(spec.qualities)), draw(st.integers(1, spec.max_n))


def _billed(spec: ModelSpec, prompt: str, size: str, quality: str, n: int, auto: str) -> int:
    """What the fake charges for this generation, through its own `usage` and our parser."""
    model = FAKE_MODELS[spec.name]  # the fake's own table, from the provider's documentation
    call = Call(operation="generate", model=model, prompt=prompt, n=n, size=size, quality=quality)
    resolved = auto if quality == "auto" else quality
    return cost_of(spec, parse_usage(usage(call, resolved_size(call), resolved, 0)))


@settings(max_examples=400, deadline=None)
@given(
    request=_requests(),
    prompt=st.text(min_size=1, max_size=300),
    auto=st.sampled_from(("low", "medium", "high")),
)
def test_the_estimate_is_never_below_the_fakes_bill(
    request: tuple[ModelSpec, str, str, int], prompt: str, auto: str
) -> None:
    spec, size, quality, n = request
    options = ImageOptions(model=spec.name, size=size, quality=quality, n=n)  # type: ignore[arg-type]
    reserved = estimate(spec, options, prompt=prompt).micro_usd
    assert reserved >= _billed(spec, prompt, size, quality, n, auto)


def test_every_listed_size_and_quality_of_the_2_6_models_is_covered() -> None:
    for name in NEW_MODELS:
        spec = CATALOG.get(name)
        assert {"xhigh", "max"} <= set(spec.qualities)
        for size in spec.sizes:
            for quality in spec.qualities:
                for auto in ("low", "medium", "high"):
                    options = ImageOptions(model=name, size=size, quality=quality)  # type: ignore[arg-type]
                    reserved = estimate(spec, options, prompt="a fox").micro_usd
                    assert reserved >= _billed(spec, "a fox", size, quality, 1, auto), (
                        name,
                        size,
                        quality,
                    )
