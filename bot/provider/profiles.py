"""Loads provider profiles (shipped TOML files, or an operator's own) into a ProviderProfile."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast
from urllib.parse import urlsplit

from bot.catalog.fields import FieldReader, merge_tables
from bot.errors import CatalogError, ConfigError
from bot.provider.profile import (
    Auth,
    Costs,
    Edits,
    Features,
    Limits,
    ModelIds,
    Pacing,
    ProviderProfile,
    Results,
    Urls,
)

SHIPPED = ("openai", "azure", "lumenfall", "vercel", "litellm", "fal")
DEFAULT = "openai"
MAX_EXTENDS = 3
# Every key a profile may hold: a misspelt one is refused, never silently ignored.
KEYS: Mapping[str, tuple[str, ...]] = {
    "": ("name", "title", "api", "hosts", "envelope", "extends", "auth", "urls", "models",
         "edits", "results", "cost", "features", "pacing", "requests", "base_url"),
    "auth": ("header", "scheme"),
    "urls": ("generations", "edits", "models", "query"),
    "models": ("style", "prefix", "names", "edit_names"),
    "edits": ("encoding", "image_field", "masks", "markup", "mask_convention", "mask_field",
              "mask_fields"),
    "requests": ("max_images", "output_formats", "size_objects"),
    "results": ("response_format", "url_hosts", "max_bytes", "download_seconds"),
    "cost": ("source", "field", "per_image", "input_text_per_1k", "input_image_per_1k",
             "input_image_tokens", "round_up_to", "markup_percent"),
    "features": ("batches", "batch_input_expiry_days", "moderation", "image_moderation",
                 "organization_usage", "streaming", "models_list"),
    "pacing": ("mode", "concurrency"),
}  # fmt: skip


class _Reader(FieldReader):
    def fail(self, field: str, reason: str) -> CatalogError:
        return CatalogError(f"{self.source}: {field}: {reason}")

    def choice(self, field: str, allowed: tuple[str, ...], default: str | None = None) -> str:
        value = self.get(field) if default is None else self.get(field, default)
        if value not in allowed:
            raise self.fail(field, f"must be one of {', '.join(allowed)}, not {value!r}")
        return cast(str, value)

    def text(self, field: str, default: str | None = None) -> str:
        value = self.get(field) if default is None else self.get(field, default)
        if not isinstance(value, str):
            raise self.fail(field, f"must be a string, not {value!r}")
        return value

    def strings_table(self, field: str) -> Mapping[str, str]:
        value = self.get(field, {})
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise self.fail(field, "must be a table of strings")
        return MappingProxyType(dict(value))

    def prices(self, field: str) -> Mapping[str, int]:
        value = self.get(field, {})
        if not isinstance(value, Mapping):
            raise self.fail(field, 'must be a table of "model WxH quality" = USD')
        out = {}
        for key, usd in value.items():
            if len(str(key).split()) != 3:
                raise self.fail(f"{field}.{key}", 'keys are "model WxH quality"')
            # read on its own: a model name's dot ("gpt-image-1.5") is no path separator
            out[str(key)] = _Reader(self.source, "", {"price": usd}).micro_usd("price")
        return MappingProxyType(out)


def load_profile(provider: str | None, base_url: str) -> ProviderProfile:
    """PROVIDER's profile: a shipped name, a TOML file's path, or (unset) the shipped profile
    whose host matches OPENAI_BASE_URL, else openai. Any problem is one ConfigError(PROVIDER)."""
    try:
        if provider is None or not provider.strip():
            return _build(_shipped_raw(matching_profile(base_url)), matching_profile(base_url))
        name = provider.strip()
        if name.lower() in SHIPPED:
            return _build(_shipped_raw(name.lower()), name.lower())
        if not name.lower().endswith(".toml") and "/" not in name:
            raise CatalogError(
                f"unknown provider {name!r}: use one of {', '.join(SHIPPED)} "
                "or the path of a TOML provider profile"
            )
        return _build(_file_raw(Path(name)), name)
    except CatalogError as exc:
        raise ConfigError("PROVIDER", str(exc), quoted=True) from None


def matching_profile(base_url: str) -> str:
    """The shipped profile whose hosts match the base URL's host, else openai."""
    host = (urlsplit(base_url).hostname or "").lower()
    for name in SHIPPED:
        hosts = _shipped_raw(name).get("hosts", [])
        if any(host == h or (h.startswith(".") and host.endswith(h)) for h in hosts):
            return name
    return DEFAULT


def _shipped_raw(name: str) -> dict[str, Any]:
    text = resources.files("bot.catalog").joinpath(f"providers/{name}.toml").read_text("utf-8")
    return _resolve(tomllib.loads(text), f"{name}.toml", depth=0)


def _file_raw(path: Path) -> dict[str, Any]:
    """An operator's file over the profile it extends, less that profile's `base_url`: a new
    provider's file that extends openai must not send its key to api.openai.com."""
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise CatalogError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: is not valid TOML ({exc})") from None
    return {**_resolve(raw, str(path), depth=0), "base_url": raw.get("base_url", "")}


def _resolve(raw: dict[str, Any], source: str, *, depth: int) -> dict[str, Any]:
    """`extends = "openai"` lays this file over a shipped profile (an operator's small file)."""
    base = raw.get("extends")
    if base is None:
        return raw
    if base not in SHIPPED or depth >= MAX_EXTENDS:
        raise CatalogError(f"{source}: extends: must name a shipped profile, not {base!r}")
    text = resources.files("bot.catalog").joinpath(f"providers/{base}.toml").read_text("utf-8")
    parent = _resolve(tomllib.loads(text), f"{base}.toml", depth=depth + 1)
    return merge_tables(parent, {k: v for k, v in raw.items() if k != "extends"})


def _check_keys(raw: Mapping[str, Any], source: str) -> None:
    for table, allowed in KEYS.items():
        node = raw.get(table, {}) if table else raw
        if not isinstance(node, Mapping):
            raise CatalogError(f"{source}: [{table}] must be a table")
        for key in node:
            if key not in allowed:
                where = f"[{table}] " if table else ""
                raise CatalogError(f"{source}: {where}unknown key {key!r}")


def _build(raw: dict[str, Any], source: str) -> ProviderProfile:
    _check_keys(raw, source)
    r = _Reader(source, "", raw)
    profile = ProviderProfile(
        name=r.text("name"),
        title=r.text("title"),
        source=source,
        api=cast(Any, r.choice("api", ("images", "fal_queue"))),
        hosts=r.strings("hosts", []),
        auth=Auth(header=r.text("auth.header"), scheme=r.text("auth.scheme", "")),
        urls=_urls(r),
        models=ModelIds(
            style=cast(Any, r.choice("models.style", ("plain", "prefixed", "deployment"))),
            prefix=r.text("models.prefix", ""),
            names=r.strings_table("models.names"),
            edit_names=r.strings_table("models.edit_names"),
        ),
        edits=_edits(r),
        results=_results(r),
        costs=_costs(r),
        envelope=cast(Any, r.choice("envelope", ("openai", "azure", "fal"))),
        features=_features(r),
        pacing=_pacing(r),
        limits=_limits(r),
        base_url=_base_url(r),
    )
    _check_offers(profile, r)
    return profile


def _check_offers(profile: ProviderProfile, r: _Reader) -> None:
    """Refuse a profile that claims what its API cannot do (fal's queue API has neither
    batches nor moderation: https://docs.fal.ai/model-endpoints/queue)."""
    f = profile.features
    if f.batches and f.batch_input_expiry_days < 1:
        raise r.fail("features.batch_input_expiry_days",
                      "must be a whole number of days >= 1 with batches = true")  # fmt: skip
    if profile.costs.source == "per_image" and not profile.costs.per_image:
        raise r.fail("cost.per_image", 'is required with source = "per_image" (the price list)')
    if profile.envelope == "fal":
        for name, has in (("batches", f.batches), ("moderation", f.moderation)):
            if has:
                raise r.fail(f"features.{name}", "must be false: fal's queue API has none")


def _costs(r: _Reader) -> Costs:
    source = r.choice("cost.source", ("usage", "body", "header", "per_image"))
    field = r.text("cost.field", "")
    if source in ("body", "header") and not field.strip():
        what = "the header's name" if source == "header" else "the body's dotted path"
        raise r.fail("cost.field", f'is required with source = "{source}" ({what})')
    return Costs(
        source=cast(Any, source),
        field=field,
        per_image=r.prices("cost.per_image"),
        input_text_per_1k=r.micro_usd("cost.input_text_per_1k", 0),
        input_image_per_1k=r.micro_usd("cost.input_image_per_1k", 0),
        input_image_tokens=r.integer("cost.input_image_tokens", 0),
        round_up_to=r.micro_usd("cost.round_up_to", 0),
        markup_hundredths=_markup(r),
    )


def _markup(r: _Reader) -> int:
    percent = r.get("cost.markup_percent", 0)
    number = isinstance(percent, int | float) and not isinstance(percent, bool)
    if not number or not 0 <= percent <= 1000:
        raise r.fail("cost.markup_percent", f"must be a number from 0 to 1000, not {percent!r}")
    return round(float(percent) * 100)


def _pacing(r: _Reader) -> Pacing:
    mode = r.choice("pacing.mode", ("ipm_tpm", "concurrency", "none"))
    if mode == "concurrency":
        concurrency = r.integer("pacing.concurrency", 0)
        if concurrency < 1:
            raise r.fail("pacing.concurrency", 'must be a whole number >= 1 with mode = '
                         f'"concurrency" (requests at once), not {concurrency!r}')  # fmt: skip
    else:
        concurrency = r.integer("pacing.concurrency", 0)
    return Pacing(mode=cast(Any, mode), concurrency=concurrency)


def _base_url(r: _Reader) -> str:
    url = r.text("base_url", "").strip()
    if url and not url.startswith(("http://", "https://")):
        raise r.fail("base_url", f"must be an http(s):// URL, not {url!r}")
    return url.rstrip("/")


def _edits(r: _Reader) -> Edits:
    return Edits(
        encoding=cast(Any, r.choice("edits.encoding", ("multipart", "json_images"))),
        image_field=cast(Any, r.choice("edits.image_field", ("auto", "image", "image[]"))),
        masks=r.flag("edits.masks"),
        markup=r.flag("edits.markup", True),
        mask_convention=cast(
            Any, r.choice("edits.mask_convention", ("alpha", "white_edits"), "alpha")
        ),
        mask_field=r.text("edits.mask_field", ""),
        mask_fields=r.strings_table("edits.mask_fields"),
    )


def _limits(r: _Reader) -> Limits:
    formats = tuple(r.strings("requests.output_formats", ["png", "jpeg", "webp"]))
    for fmt in formats:
        if fmt not in ("png", "jpeg", "webp"):
            raise r.fail("requests.output_formats", f"png, jpeg or webp, not {fmt!r}")
    if not formats:
        raise r.fail("requests.output_formats", "must name at least one format")
    return Limits(
        max_images=r.integer("requests.max_images", 10, minimum=1),
        output_formats=formats,
        size_objects=tuple(r.strings("requests.size_objects", [])),
    )


def _urls(r: _Reader) -> Urls:
    query = r.strings_table("urls.query")
    return Urls(
        generations=r.text("urls.generations"),
        edits=r.text("urls.edits"),
        models=r.text("urls.models", ""),
        query=query,
    )


def _results(r: _Reader) -> Results:
    seconds = r.get("results.download_seconds", 60)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        raise r.fail("results.download_seconds", f"must be a number > 0, not {seconds!r}")
    return Results(
        response_format=r.text("results.response_format", "") or None,
        url_hosts=tuple(h.lower() for h in r.strings("results.url_hosts", [])),
        max_bytes=r.integer("results.max_bytes", 50 * 1024 * 1024, minimum=1),
        download_seconds=float(seconds),
    )


def _features(r: _Reader) -> Features:
    expiry = r.integer("features.batch_input_expiry_days", 0)
    return Features(
        batches=r.flag("features.batches"),
        batch_input_expiry_days=expiry,
        moderation=r.flag("features.moderation"),
        image_moderation=r.flag("features.image_moderation"),
        organization_usage=r.flag("features.organization_usage"),
        streaming=r.flag("features.streaming"),
        models_list=r.flag("features.models_list"),
    )
