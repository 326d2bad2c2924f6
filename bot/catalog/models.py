"""The model catalog: per-model prices, sizes and limits, loaded from TOML (shipped + override)."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot.catalog.fields import (
    RESOLVED_QUALITIES,
    FieldReader,
    merge_tables,
    parse_size,
)
from bot.domain import QUALITIES
from bot.errors import CatalogError, InvalidOptionError, ModelNotAllowedError

__all__ = [
    "RESOLVED_QUALITIES",
    "Catalog",
    "FreeSizeRule",
    "ModelSpec",
    "TokenPrices",
    "load_catalog",
    "parse_size",
]

SHIPPED_FILE = "bot/catalog/models.toml"
# A model that lists no qualities takes the four every GPT Image model takes; xhigh and max
# only where listed.
DEFAULT_QUALITIES = ("auto", "low", "medium", "high")


@dataclass(frozen=True, slots=True)
class TokenPrices:
    """Integer micro-USD per 1,000,000 tokens ($1.25/1M -> 1_250_000); 0 means not billed."""

    text_input: int
    cached_text_input: int
    image_input: int
    cached_image_input: int
    image_output: int
    text_output: int


@dataclass(frozen=True, slots=True)
class FreeSizeRule:
    """The WxH rule of models that take free sizes (gpt-image-2)."""

    multiple: int
    max_edge: int
    max_ratio: float
    min_pixels: int
    max_pixels: int

    def problem(self, width: int, height: int) -> str | None:
        """Every rule WxH breaks, or None when it is valid."""
        broken = []
        if width % self.multiple or height % self.multiple:
            broken.append(f"edges in multiples of {self.multiple}")
        if max(width, height) > self.max_edge:
            broken.append(f"the longest edge at most {self.max_edge} px")
        if max(width, height) > self.max_ratio * min(width, height):
            broken.append(f"an aspect ratio up to {self.max_ratio:g}:1")
        if not self.min_pixels <= width * height <= self.max_pixels:
            millions = f"{self.min_pixels / 1e6:.2g} to {self.max_pixels / 1e6:.2g}"
            broken.append(f"{millions} million pixels")
        return "; ".join(broken) or None

    def describe(self) -> str:
        return (
            f"any WxH with both edges multiples of {self.multiple}, the longest edge at most "
            f"{self.max_edge}, an aspect ratio up to {self.max_ratio:g}:1 and "
            f"{self.min_pixels:,} to {self.max_pixels:,} pixels"
        )


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model's catalog entry; see bot/catalog/models.toml for each field."""

    name: str
    label: str
    prices: TokenPrices
    sizes: tuple[str, ...]
    free_size: FreeSizeRule | None
    qualities: tuple[str, ...]
    input_fidelity: bool
    always_high_fidelity: bool
    transparent_background: bool
    max_input_images: int
    max_n: int
    max_prompt_chars: int
    output_tokens: Mapping[str, Mapping[str, int]]
    image_prices: Mapping[str, Mapping[str, int]]
    text_output_tokens_estimate: int
    partial_image_tokens: int
    shutdown: date | None
    replacement: str | None
    auto_sizes: tuple[str, ...] = ()  # what "auto" may resolve to; empty = every resolved size
    batch_prices: TokenPrices | None = None  # the Batch API's (relaxed speed); None = not offered
    markup: bool = False  # edits take a `markup` image drawn over the first input

    @property
    def offers_relaxed(self) -> bool:
        """Whether the catalog gives this model Batch API prices (the relaxed speed)."""
        return self.batch_prices is not None

    def token_prices(self, *, relaxed: bool = False) -> TokenPrices:
        """The per-token prices of a fast call, or of a batch line when `relaxed`."""
        if relaxed:
            if self.batch_prices is None:
                raise ValueError(f"{self.name} has no batch prices")
            return self.batch_prices
        return self.prices

    def is_retired(self, today: date) -> bool:
        return self.shutdown is not None and today >= self.shutdown

    def resolved_sizes(self) -> tuple[str, ...]:
        return tuple(size for size in self.sizes if size != "auto")

    def auto_size_candidates(self) -> tuple[str, ...]:
        """The concrete sizes a request for size "auto" may come back as (priced as the dearest)."""
        return self.auto_sizes or self.resolved_sizes()

    def validate_size(self, size: str) -> str:
        """The normalised size ("auto" or "WxH"), or InvalidOptionError listing valid values."""
        text = size.strip().lower()
        if text == "auto" and "auto" in self.sizes:
            return "auto"
        parsed = parse_size(text)
        problem = None
        if parsed is not None:
            normalised = f"{parsed[0]}x{parsed[1]}"
            if normalised in self.sizes:
                return normalised
            if self.free_size is not None:
                problem = self.free_size.problem(*parsed)
                if problem is None:
                    return normalised
        shown = size if len(size) <= 24 else size[:21] + "..."
        valid = ", ".join(self.sizes)
        if problem:  # the rules it breaks say what would fit; the listed sizes always do
            few = ", ".join(self.sizes[:4]) + (", …" if len(self.sizes) > 4 else "")
            raise InvalidOptionError(
                "size", f"{shown} is not a size {self.name} accepts: it needs {problem}; or {few}"
            )
        if self.free_size is not None:
            valid += f", or {self.free_size.describe()}"
        raise InvalidOptionError(
            "size", f"{shown} is not a size {self.name} accepts; valid: {valid}"
        )


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every model the bot knows, and the price-table version recorded on each ledger row."""

    version: str
    models: Mapping[str, ModelSpec]

    def get(self, name: str) -> ModelSpec:
        spec = self.models.get(name)
        if spec is None:
            raise ModelNotAllowedError(name, self.names())
        return spec

    def names(self) -> tuple[str, ...]:
        return tuple(self.models)

    def retired(self, today: date) -> tuple[ModelSpec, ...]:
        return tuple(spec for spec in self.models.values() if spec.is_retired(today))


def load_catalog(override: Path | None = None) -> Catalog:
    """The shipped catalog, with the operator's file (MODEL_CATALOG, passed in) merged over it.

    New models in the override are added; for an existing model each given field replaces the
    shipped one, tables (prices, output_tokens, ...) merging key by key. The version becomes the
    override's `version`, or the shipped one plus a hash of the override so ledgers tell them apart.
    """
    text = resources.files("bot.catalog").joinpath("models.toml").read_text(encoding="utf-8")
    shipped = _parse_document(SHIPPED_FILE, text)
    version = _version(SHIPPED_FILE, shipped)
    over: dict[str, Any] = {"models": {}}
    label = str(override)
    if override is not None:
        try:
            raw = override.read_bytes()
        except OSError as exc:
            raise CatalogError(f"{label}: cannot read the model catalog ({exc.strerror})") from exc
        over = _parse_document(label, raw.decode("utf-8", errors="replace"))
        own = over.get("version")
        version = own if own is not None else f"{version}+{hashlib.sha256(raw).hexdigest()[:8]}"
        version = _version(label, {"version": version})
    models: dict[str, ModelSpec] = {}
    for name in dict.fromkeys([*shipped["models"], *over["models"]]):
        mine = over["models"].get(name)
        merged = merge_tables(shipped["models"].get(name, {}), mine or {})
        # The shipped file is tested, so a bad entry in a model the override touches is its fault.
        source = SHIPPED_FILE if mine is None else label
        models[name] = _build_spec(FieldReader(source, name, merged))
    return Catalog(version=version, models=MappingProxyType(models))


def _parse_document(label: str, text: str) -> dict[str, Any]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{label}: not valid TOML ({exc})") from exc
    unknown = set(doc) - {"version", "models"}
    if unknown:
        raise CatalogError(f"{label}: unknown top-level field(s) {', '.join(sorted(unknown))}")
    models = doc.setdefault("models", {})
    if not isinstance(models, dict):
        raise CatalogError(f'{label}: `models` must be a table of [models."name"] tables')
    for name, table in models.items():
        if not isinstance(table, dict):
            raise CatalogError(f"{label}: model {name!r} must be a table")
    return doc


def _version(label: str, doc: Mapping[str, Any]) -> str:
    version = doc.get("version")
    if not isinstance(version, str) or not version.strip():
        raise CatalogError(f"{label}: `version` must be a non-empty string")
    return version.strip()


_FIELDS = frozenset(field.name for field in fields(ModelSpec)) - {"name"}  # name is the key
_PRICE_FIELDS = frozenset(field.name for field in fields(TokenPrices))


def _build_spec(f: FieldReader) -> ModelSpec:
    for key in f.raw:
        if key not in _FIELDS:
            raise f.fail(key, "unknown field")
    label = f.optional_text("label") or f.name
    spec = ModelSpec(
        name=f.name,
        label=label,
        prices=_prices(f, "prices"),
        sizes=_sizes(f),
        free_size=_free_size(f),
        qualities=_qualities(f),
        input_fidelity=f.flag("input_fidelity", False),
        always_high_fidelity=f.flag("always_high_fidelity", False),
        transparent_background=f.flag("transparent_background", False),
        max_input_images=f.integer("max_input_images", 16, minimum=1),
        max_n=f.integer("max_n", 10, minimum=1),
        max_prompt_chars=f.integer("max_prompt_chars", 32000, minimum=1),
        output_tokens=f.table("output_tokens", f.integer),
        image_prices=f.table("image_prices", f.micro_usd),
        text_output_tokens_estimate=f.integer("text_output_tokens_estimate", 0),
        partial_image_tokens=f.integer("partial_image_tokens", 100),
        shutdown=f.day("shutdown"),
        replacement=f.optional_text("replacement"),
        auto_sizes=f.strings("auto_sizes", ()),
        batch_prices=_prices(f, "batch_prices") if f.get("batch_prices", None) else None,
        markup=f.flag("markup", False),
    )
    _check_consistency(f, spec)
    return replace(spec, auto_sizes=_auto_sizes(f, spec))


def _prices(f: FieldReader, name: str) -> TokenPrices:
    table = f.get(name)
    if not isinstance(table, Mapping):
        raise f.fail(name, "must be a table of USD per 1M tokens")
    for key in table:
        if key not in _PRICE_FIELDS:
            raise f.fail(f"{name}.{key}", "unknown price")
    text_in, image_in = f.micro_usd(f"{name}.text_input"), f.micro_usd(f"{name}.image_input")
    return TokenPrices(
        text_input=text_in,
        cached_text_input=f.micro_usd(f"{name}.cached_text_input", table.get("text_input")),
        image_input=image_in,
        cached_image_input=f.micro_usd(f"{name}.cached_image_input", table.get("image_input")),
        image_output=f.micro_usd(f"{name}.image_output"),
        text_output=f.micro_usd(f"{name}.text_output", 0),
    )


def _sizes(f: FieldReader) -> tuple[str, ...]:
    sizes = f.strings("sizes")
    normalised = []
    for size in sizes:
        parsed = parse_size(size)
        if size.strip().lower() != "auto" and parsed is None:
            raise f.fail("sizes", f'{size!r} is neither "auto" nor WxH')
        normalised.append(f"{parsed[0]}x{parsed[1]}" if parsed else "auto")
    if not [s for s in normalised if s != "auto"]:
        raise f.fail("sizes", "must list at least one WxH size")
    return tuple(dict.fromkeys(normalised))


def _free_size(f: FieldReader) -> FreeSizeRule | None:
    if f.get("free_size", None) is None:
        return None
    ratio = f.get("free_size.max_ratio")
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not ratio >= 1:
        raise f.fail("free_size.max_ratio", f"must be a number >= 1, not {ratio!r}")
    return FreeSizeRule(
        multiple=f.integer("free_size.multiple", minimum=1),
        max_edge=f.integer("free_size.max_edge", minimum=1),
        max_ratio=float(ratio),
        min_pixels=f.integer("free_size.min_pixels", minimum=1),
        max_pixels=f.integer("free_size.max_pixels", minimum=1),
    )


def _qualities(f: FieldReader) -> tuple[str, ...]:
    qualities = f.strings("qualities", DEFAULT_QUALITIES)
    bad = [q for q in qualities if q not in QUALITIES]
    if bad or not set(qualities) - {"auto"}:
        raise f.fail("qualities", f"must list some of {', '.join(QUALITIES)}, not only auto")
    return tuple(dict.fromkeys(qualities))


def _check_consistency(f: FieldReader, spec: ModelSpec) -> None:
    """Cross-field rules that keep every estimate computable and an upper bound."""
    for quality in spec.qualities:
        if quality != "auto" and not any(quality in row for row in spec.output_tokens.values()):
            raise f.fail("output_tokens", f"needs {quality!r} tokens for at least one size")
    if spec.prices.text_output and spec.text_output_tokens_estimate <= 0:
        raise f.fail("text_output_tokens_estimate", "must be > 0 when text output is billed")


def _auto_sizes(f: FieldReader, spec: ModelSpec) -> tuple[str, ...]:
    """The declared auto sizes, normalised; each must be a size the model accepts."""
    normalised = []
    for size in spec.auto_sizes:
        try:
            normalised.append(spec.validate_size(size))
        except InvalidOptionError as exc:
            raise f.fail("auto_sizes", exc.reason) from exc
    if "auto" in normalised:
        raise f.fail("auto_sizes", 'list concrete WxH sizes, not "auto"')
    return tuple(dict.fromkeys(normalised))
