"""The model catalog: the shipped file, size validation, retirement and MODEL_CATALOG overrides."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.catalog.models import Catalog, load_catalog
from bot.errors import CatalogError, InvalidOptionError, ModelNotAllowedError

SHIPPED = load_catalog()


def _override(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.local.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_catalog_lists_the_models_with_exact_prices() -> None:
    assert SHIPPED.version == "2026-12-06"
    assert SHIPPED.names() == (
        "gpt-image-1",
        "gpt-image-1-mini",
        "gpt-image-1.5",
        "gpt-image-2",
        "gpt-image-2.5-flare",
        "gpt-image-2.5-sunburst",
        "gpt-image-2.6-flare",
        "gpt-image-2.6-sunburst",
    )
    sunburst = SHIPPED.get("gpt-image-2.6-sunburst").prices  # the official model page
    assert (sunburst.text_input, sunburst.image_input, sunburst.image_output) == (
        5_000_000,
        8_000_000,
        30_000_000,
    )
    assert SHIPPED.get("gpt-image-2.6-flare").prices == sunburst
    one = SHIPPED.get("gpt-image-1").prices
    assert (one.text_input, one.cached_text_input, one.image_output) == (
        5_000_000,
        1_250_000,
        40_000_000,
    )
    mini = SHIPPED.get("gpt-image-1-mini")
    assert mini.prices.cached_text_input == 200_000  # $0.20 exactly, no float drift
    assert mini.image_prices["1536x1024"]["high"] == 52_000
    assert SHIPPED.get("gpt-image-1.5").prices.text_output == 10_000_000


@pytest.mark.parametrize(
    ("model", "input_fidelity", "always_high", "transparent"),
    [
        ("gpt-image-1", True, False, True),
        ("gpt-image-1-mini", False, False, True),
        ("gpt-image-1.5", True, False, True),
        ("gpt-image-2", False, True, False),
    ],
    ids=["gpt-image-1", "mini", "gpt-image-1.5", "gpt-image-2"],
)
def test_shipped_capability_flags(
    model: str, input_fidelity: bool, always_high: bool, transparent: bool
) -> None:
    spec = SHIPPED.get(model)
    assert spec.input_fidelity is input_fidelity
    assert spec.always_high_fidelity is always_high
    assert spec.transparent_background is transparent
    assert (spec.max_input_images, spec.max_n, spec.max_prompt_chars) == (16, 10, 32000)


def test_gpt_image_2_sizes_and_free_size_rule() -> None:
    spec = SHIPPED.get("gpt-image-2")
    assert spec.resolved_sizes() == (
        "1024x1024", "1536x1024", "1024x1536", "2048x2048", "2048x1152", "3840x2160", "2160x3840",
    )  # fmt: skip
    assert "auto" not in spec.resolved_sizes()
    assert spec.free_size is not None and spec.free_size.multiple == 16
    assert spec.auto_size_candidates() == ("1024x1024", "1536x1024", "1024x1536")


@pytest.mark.parametrize(
    ("model", "size", "expected"),
    [
        ("gpt-image-1", "1024x1024", "1024x1024"),
        ("gpt-image-1", "auto", "auto"),
        ("gpt-image-1", " AUTO ", "auto"),
        ("gpt-image-1-mini", "1536X1024", "1536x1024"),
        ("gpt-image-2", "2048x1152", "2048x1152"),
        ("gpt-image-2", " 1024×1536 ", "1024x1536"),
        ("gpt-image-2", "1280x720", "1280x720"),
        ("gpt-image-2", "3840x1280", "3840x1280"),
    ],
    ids=[
        "listed",
        "auto",
        "auto-case",
        "upper-x",
        "listed-free",
        "times-sign",
        "free-720p",
        "ratio-exactly-3",
    ],
)
def test_validate_size_accepts_and_normalises(model: str, size: str, expected: str) -> None:
    assert SHIPPED.get(model).validate_size(size) == expected


@pytest.mark.parametrize(
    ("model", "size", "why"),
    [
        ("gpt-image-2", "1000x1000", "multiples of 16"),
        ("gpt-image-2", "4000x1008", "longest edge"),
        ("gpt-image-2", "3840x1248", "aspect ratio"),
        ("gpt-image-2", "512x512", "pixels"),
        ("gpt-image-1", "512x512", ""),
        ("gpt-image-1", "2048x2048", ""),
        ("gpt-image-1", "huge", ""),
    ],
    ids=["not-16", "edge", "ratio", "too-few-pixels", "gpt1-small", "gpt1-big", "garbage"],
)
def test_validate_size_refuses_with_the_valid_values(model: str, size: str, why: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        SHIPPED.get(model).validate_size(size)
    assert caught.value.option == "size"
    assert why in caught.value.reason
    assert "auto, 1024x1024, 1536x1024, 1024x1536" in caught.value.reason
    assert size in caught.value.reason


def test_a_size_refusal_names_every_rule_broken_and_stays_short() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        SHIPPED.get("gpt-image-2").validate_size("8001x1001")
    reason = caught.value.reason
    for rule in ("multiples of 16", "longest edge", "aspect ratio"):
        assert rule in reason
    assert len(reason) <= 200


@pytest.mark.parametrize(
    ("model", "today", "retired"),
    [
        ("gpt-image-1", date(2026, 10, 22), False),
        ("gpt-image-1", date(2026, 10, 23), True),
        ("gpt-image-1", date(2026, 11, 21), True),
        ("gpt-image-1.5", date(2026, 11, 30), False),
        ("gpt-image-1.5", date(2026, 12, 1), True),
        ("gpt-image-1-mini", date(2026, 12, 1), True),
        ("gpt-image-2", date(2099, 1, 1), False),
        ("gpt-image-2.5-flare", date(2099, 1, 1), False),
        ("gpt-image-2.5-sunburst", date(2099, 1, 1), False),
    ],
    ids=[
        "1-day-before",
        "1-on-the-day",
        "1-after",
        "1.5-before",
        "1.5-on",
        "mini-on",
        "2-never",
        "2.5-flare-never",
        "2.5-sunburst-never",
    ],
)
def test_is_retired_from_the_shutdown_date(model: str, today: date, retired: bool) -> None:
    assert SHIPPED.get(model).is_retired(today) is retired


def test_retired_lists_models_and_their_replacement() -> None:
    assert [s.name for s in SHIPPED.retired(date(2026, 11, 21))] == ["gpt-image-1"]
    later = SHIPPED.retired(date(2026, 12, 1))
    assert [s.name for s in later] == ["gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5"]
    # OpenAI's deprecations page names 2.6 for the models shut down on 2026-12-01
    assert [s.replacement for s in later] == [
        "gpt-image-2",
        "gpt-image-2.6-sunburst",
        "gpt-image-2.6-sunburst",
    ]


def test_unknown_model_is_refused_naming_the_choices() -> None:
    with pytest.raises(ModelNotAllowedError) as caught:
        SHIPPED.get("dall-e-3")
    assert caught.value.model == "dall-e-3"
    assert caught.value.allowed == SHIPPED.names()


def test_override_adds_a_model_with_conservative_defaults(tmp_path: Path) -> None:
    path = _override(
        tmp_path,
        """
        [models."gateway-image"]
        sizes = ["auto", "1024x1024"]
        prices = { text_input = 1.5, image_input = 3, image_output = 12.25 }
        output_tokens."1024x1024" = { low = 300, medium = 1200, high = 4800 }
        """,
    )
    catalog = load_catalog(path)
    assert catalog.names()[-1] == "gateway-image"
    spec = catalog.get("gateway-image")
    assert spec.label == "gateway-image"
    assert spec.prices.image_output == 12_250_000
    assert spec.prices.cached_text_input == 1_500_000  # unknown cache price: never cheaper
    assert spec.prices.text_output == 0
    assert spec.shutdown is None
    assert "gpt-image-2" in catalog.names()


def test_override_changes_only_the_price_it_names(tmp_path: Path) -> None:
    path = _override(tmp_path, '[models."gpt-image-1".prices]\nimage_output = 35.5\n')
    catalog = load_catalog(path)
    spec, shipped = catalog.get("gpt-image-1"), SHIPPED.get("gpt-image-1")
    assert spec.prices.image_output == 35_500_000
    assert spec.prices.text_input == shipped.prices.text_input
    assert spec.output_tokens == shipped.output_tokens
    assert spec.shutdown == shipped.shutdown
    assert catalog.get("gpt-image-2") == SHIPPED.get("gpt-image-2")
    # Ledger rows must tell the overridden prices from the shipped ones.
    assert catalog.version.startswith("2026-12-06+") and catalog.version != SHIPPED.version


def test_override_clears_a_shutdown_date(tmp_path: Path) -> None:
    path = _override(tmp_path, '[models."gpt-image-1"]\nshutdown = ""\n')
    spec = load_catalog(path).get("gpt-image-1")
    assert spec.shutdown is None
    assert not spec.is_retired(date(2030, 1, 1))


def test_override_can_name_its_own_version_and_merge_a_token_table(tmp_path: Path) -> None:
    path = _override(
        tmp_path,
        'version = "acme-3"\n[models."gpt-image-2".output_tokens."2048x2048"]\nhigh = 30000\n',
    )
    catalog = load_catalog(path)
    assert catalog.version == "acme-3"
    tokens = catalog.get("gpt-image-2").output_tokens
    assert tokens["2048x2048"]["high"] == 30000
    assert tokens["1024x1024"]["high"] == 7034


@pytest.mark.parametrize(
    ("text", "model", "field"),
    [
        (
            '[models."gpt-image-1".prices]\nimage_output = "lots"',
            "gpt-image-1",
            "prices.image_output",
        ),
        (
            '[models."gpt-image-1".prices]\ntext_input = 0.0000001',
            "gpt-image-1",
            "prices.text_input",
        ),
        ('[models."gpt-image-1".prices]\nimage_output = -1', "gpt-image-1", "prices.image_output"),
        ('[models."gpt-image-2"]\nshutdown = "soon"', "gpt-image-2", "shutdown"),
        ('[models."gpt-image-1"]\nshutdwon = "2027-01-01"', "gpt-image-1", "shutdwon"),
        ('[models."gpt-image-1"]\nmax_n = 0', "gpt-image-1", "max_n"),
        ('[models."gpt-image-1"]\nsizes = ["auto", "big"]', "gpt-image-1", "sizes"),
        ('[models."gpt-image-1".output_tokens.huge]\nlow = 1', "gpt-image-1", "output_tokens.huge"),
        ('[models."new"]\nsizes = ["1024x1024"]', "new", "prices"),
        (
            '[models."new"]\nsizes = ["1024x1024"]\nprices = {text_input=1, image_input=1, '
            "image_output=1}",
            "new",
            "output_tokens",
        ),
        ('[models."gpt-image-1".prices]\ntext_output = 10', "gpt-image-1", "text_output_tokens"),
        ('[models."gpt-image-2"]\nauto_sizes = ["1000x1000"]', "gpt-image-2", "auto_sizes"),
    ],
    ids=[
        "price-not-a-number",
        "price-too-precise",
        "price-negative",
        "bad-date",
        "unknown-field",
        "max-n-zero",
        "bad-size",
        "bad-table-size",
        "new-model-no-prices",
        "new-model-no-tokens",
        "text-output-without-estimate",
        "bad-auto-size",
    ],
)
def test_malformed_override_names_file_model_and_field(
    tmp_path: Path, text: str, model: str, field: str
) -> None:
    path = _override(tmp_path, text)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert repr(model) in message
    assert field in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[models.", "not valid TOML"),
        ('price = 1\n[models."x"]\nsizes = []', "unknown top-level"),
        ('models = "gpt-image-1"', "must be a table"),
        ('version = 3\n[models."gpt-image-1"]\nlabel = "x"', "version"),
    ],
    ids=["syntax", "top-level-typo", "models-not-a-table", "version-not-a-string"],
)
def test_malformed_override_document_names_the_file(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _override(tmp_path, text)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert str(caught.value).startswith(str(path))
    assert expected in str(caught.value)


def test_missing_override_file_is_a_catalog_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(CatalogError, match=r"nope\.toml"):
        load_catalog(missing)


def test_catalog_is_read_only() -> None:
    catalog: Catalog = load_catalog()
    with pytest.raises(TypeError):
        catalog.models["evil"] = catalog.get("gpt-image-2")  # type: ignore[index]
    with pytest.raises(TypeError):
        catalog.get("gpt-image-1").output_tokens["1024x1024"]["low"] = 1  # type: ignore[index]
