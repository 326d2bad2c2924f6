"""The catalog's Batch API prices (the relaxed speed) and pricing at them."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from bot.catalog.models import load_catalog
from bot.catalog.pricing import cost_of, estimate
from bot.domain import Choices, ImageOptions, TokenUsage
from bot.errors import InvalidOptionError
from bot.guild_settings import GuildConfig, GuildLimits, GuildSettings
from bot.jobs.admit.validation import validate
from bot.jobs.models import Submission

SHIPPED = load_catalog()


# The models OpenAI's Batch API is documented to take (docs/sources.md#batch-limits).
@pytest.mark.parametrize(
    "model", ["gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2"]
)
def test_batch_models_have_batch_prices_at_half_their_prices(model: str) -> None:
    spec = SHIPPED.get(model)
    assert spec.offers_relaxed and spec.batch_prices is not None
    fast, batch = spec.prices, spec.batch_prices
    assert (batch.text_input, batch.cached_text_input, batch.image_input) == (
        fast.text_input // 2, fast.cached_text_input // 2, fast.image_input // 2,
    )  # fmt: skip
    assert (batch.image_output, batch.text_output) == (fast.image_output // 2,
                                                       fast.text_output // 2)  # fmt: skip


def test_a_batch_line_costs_half_and_its_estimate_stays_an_upper_bound() -> None:
    spec = SHIPPED.get("gpt-image-2")
    usage = TokenUsage(text_input=20, image_input=4160, image_output=1767)
    assert cost_of(spec, usage, relaxed=True) * 2 - cost_of(spec, usage) in (0, 1)
    options = ImageOptions(model="gpt-image-2", size="auto", quality="auto", n=3)
    fast = estimate(spec, options, prompt="a fox", input_sizes=[(1024, 768)])
    relaxed = estimate(spec, options, prompt="a fox", input_sizes=[(1024, 768)], relaxed=True)
    assert relaxed.images == fast.images and relaxed.tokens == fast.tokens
    assert 0 < relaxed.micro_usd * 2 - fast.micro_usd <= 2


def test_list_prices_per_image_scale_to_the_batch_rate() -> None:
    spec = SHIPPED.get("gpt-image-1-mini")  # priced by its list price, above tokens x rate
    options = ImageOptions(model="gpt-image-1-mini", size="1024x1536", quality="high")
    fast = estimate(spec, options, prompt="x").micro_usd
    relaxed = estimate(spec, options, prompt="x", relaxed=True).micro_usd
    assert fast >= 52_000 and abs(2 * relaxed - fast) <= 2


def test_an_override_sets_batch_prices_and_a_model_without_them_has_no_relaxed_speed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "models.toml"
    path.write_text(textwrap.dedent("""
        [models."gpt-image-2".batch_prices]
        image_output = 12.5

        [models."gateway-image"]
        sizes = ["auto", "1024x1024"]
        prices = { text_input = 1, image_input = 2, image_output = 10 }
        output_tokens."1024x1024" = { low = 300, medium = 1200, high = 4800 }
    """))  # fmt: skip
    catalog = load_catalog(path)
    spec = catalog.get("gpt-image-2")
    assert spec.batch_prices is not None and spec.batch_prices.image_output == 12_500_000
    assert spec.batch_prices.text_input == 2_500_000  # the shipped batch price is kept
    gateway = catalog.get("gateway-image")
    assert not gateway.offers_relaxed
    with pytest.raises(ValueError, match="no batch prices"):
        cost_of(gateway, TokenUsage(image_output=1), relaxed=True)


def test_relaxed_is_refused_for_a_model_without_batch_prices_and_never_streams(
    tmp_path: Path,
) -> None:
    path = tmp_path / "models.toml"
    path.write_text(textwrap.dedent("""
        [models."gateway-image"]
        sizes = ["auto", "1024x1024"]
        prices = { text_input = 1, image_input = 2, image_output = 10 }
        output_tokens."1024x1024" = { low = 300, medium = 1200, high = 4800 }
    """))  # fmt: skip
    catalog = load_catalog(path)
    settings = GuildSettings(1, GuildLimits(), GuildConfig(relaxed="allowed", previews=True))

    def submit(model: str) -> Submission:
        choices = Choices(prompt="a fox", model=model, speed="relaxed")
        return Submission(1, 2, 3, (), "generate", choices)

    with pytest.raises(InvalidOptionError, match="not offered at the relaxed speed"):
        validate(submit("gateway-image"), settings, catalog, default_model="gpt-image-2",
                 today=date(2026, 11, 29))  # fmt: skip
    valid = validate(submit("gpt-image-2"), settings, catalog, default_model="gpt-image-2",
                     today=date(2026, 11, 29))  # fmt: skip
    assert valid.speed == "relaxed" and valid.options.partial_images == 0  # previews are on


@pytest.mark.parametrize(
    ("relaxed", "speed", "outcome"),
    [
        ("default", None, "fast"),  # relaxed was only the guild's default: fast instead
        ("default", "relaxed", "not offered at the relaxed speed"),
        ("only", None, "so pick another model"),
        ("allowed", "relaxed", "not offered at the relaxed speed"),
    ],
)
def test_a_model_without_batch_prices_runs_fast_when_relaxed_is_only_the_default(
    relaxed: str, speed: str | None, outcome: str
) -> None:
    """gpt-image-2.5-flare has no published batch prices, so it has no relaxed speed."""
    assert not SHIPPED.get("gpt-image-2.5-flare").offers_relaxed
    settings = GuildSettings(1, GuildLimits(), GuildConfig(relaxed=relaxed))  # type: ignore[arg-type]
    choices = Choices(prompt="a fox", model="gpt-image-2.5-flare", speed=speed)
    submission = Submission(1, 2, 3, (), "generate", choices)
    kw: dict[str, object] = {"default_model": "gpt-image-2", "today": date(2026, 11, 29)}
    if outcome == "fast":
        assert validate(submission, settings, SHIPPED, **kw).speed == "fast"  # type: ignore[arg-type]
        return
    with pytest.raises(InvalidOptionError, match=outcome):
        validate(submission, settings, SHIPPED, **kw)  # type: ignore[arg-type]
