"""A provider profile as a frozen value: how one endpoint is spoken to, and what it offers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Api = Literal["images", "fal_queue"]
IdStyle = Literal["plain", "prefixed", "deployment"]
EditEncoding = Literal["multipart", "json_images"]
ImageField = Literal["auto", "image", "image[]"]
CostSource = Literal["usage", "body", "header", "per_image"]
Envelope = Literal["openai", "azure", "fal"]
PacingMode = Literal["ipm_tpm", "concurrency", "none"]
Operation = Literal["generate", "edit"]
# alpha: OpenAI's, transparent = edit; white_edits: an opaque black-and-white picture, white = edit
MaskConvention = Literal["alpha", "white_edits"]


@dataclass(frozen=True, slots=True)
class Auth:
    """The header the key goes in, and its scheme word ("" sends the key bare, as Azure wants)."""

    header: str
    scheme: str

    def headers(self, key: str) -> dict[str, str]:
        return {self.header: f"{self.scheme} {key}" if self.scheme else key}


@dataclass(frozen=True, slots=True)
class Urls:
    """Paths under the base URL (`{model}` stands for the upstream id) and the fixed query."""

    generations: str
    edits: str
    models: str
    query: Mapping[str, str]

    def path(self, operation: Operation, upstream_model: str) -> str:
        template = self.generations if operation == "generate" else self.edits
        return template.replace("{model}", upstream_model)


@dataclass(frozen=True, slots=True)
class ModelIds:
    """How a catalog name becomes the provider's id: plain, `prefix` + name, or a table of
    deployment names (an entry missing from the table is named like the model)."""

    style: IdStyle
    prefix: str
    names: Mapping[str, str]
    edit_names: Mapping[str, str]

    def upstream(self, model: str, operation: Operation = "generate") -> str:
        if operation == "edit" and model in self.edit_names:
            return self.edit_names[model]
        if model in self.names:
            return self.names[model]
        return f"{self.prefix}{model}" if self.style == "prefixed" else model

    def catalog_name(self, upstream: str) -> str:
        """The catalog's name for an id the provider lists (its /models), the inverse of above."""
        for name, listed in self.names.items():
            if listed == upstream:
                return name
        return upstream.removeprefix(self.prefix) if self.style == "prefixed" else upstream


@dataclass(frozen=True, slots=True)
class Edits:
    """How edits travel: multipart (`image` / `image[]` parts) or JSON `images: [{image_url}]`."""

    encoding: EditEncoding
    image_field: ImageField
    masks: bool
    markup: bool = True  # a `markup` image drawn over the first input (multipart's own part)
    mask_convention: MaskConvention = "alpha"
    mask_field: str = ""  # the JSON field a mask goes in (fal), "" for multipart's `mask`
    mask_fields: Mapping[str, str] = field(default_factory=dict)  # per model, over mask_field

    def mask_field_for(self, model: str) -> str:
        return self.mask_fields.get(model, self.mask_field)

    def takes_mask(self, model: str) -> bool:
        """Whether `model`'s edits take a mask: multipart's `mask` part, or a JSON body's field
        where the profile names one for it (fal documents one per edit endpoint)."""
        return self.masks and (self.encoding == "multipart" or bool(self.mask_field_for(model)))


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may ask for: images per request, the output formats made, and the
    models whose size is sent as a `{width, height}` object instead of "WxH"."""

    max_images: int = 10
    output_formats: tuple[str, ...] = ("png", "jpeg", "webp")
    size_objects: tuple[str, ...] = ()  # models whose size travels as {width, height} (fal)


@dataclass(frozen=True, slots=True)
class Results:
    """The `response_format` value to send (None: never send it), and where URL results may be
    downloaded from, with the download's size and time limits."""

    response_format: str | None
    url_hosts: tuple[str, ...]
    max_bytes: int
    download_seconds: float

    def allows(self, host: str) -> bool:
        host = host.lower()
        return any(host == h or (h.startswith(".") and host.endswith(h)) for h in self.url_hosts)


@dataclass(frozen=True, slots=True)
class Costs:
    """Where the provider reports what a call cost: `usage` tokens priced by the catalog, a body
    field (dotted path, USD), a header (USD), or nothing (then `per_image` prices, micro-USD,
    keyed "model size quality"; a call they do not cover is charged its estimate)."""

    source: CostSource
    field: str
    per_image: Mapping[str, int]
    # With per-image prices, what the list adds per request (0: nothing): input tokens in
    # micro-USD per 1,000, the tokens counted for each input image (the list's own bound), and
    # the unit each request's total is rounded up to (e.g. 10,000 micro-USD: a cent).
    input_text_per_1k: int = 0
    input_image_per_1k: int = 0
    input_image_tokens: int = 0
    round_up_to: int = 0
    # What a gateway adds over OpenAI's list, in hundredths of a percent (`[cost]
    # markup_percent` = 5 is 500): every reservation is raised by it, so a gateway that bills
    # its own cost within that margin never takes a budget past its limit.
    markup_hundredths: int = 0

    def with_markup(self, micro_usd: int) -> int:
        """`micro_usd` raised by the markup, rounded up to the micro-USD."""
        return micro_usd + -(-micro_usd * self.markup_hundredths // 10_000)

    def price(self, model: str, size: str, quality: str) -> int | None:
        return self.per_image.get(f"{model} {size} {quality}")

    def request_price(self, each: int, n: int, text_tokens: int, input_images: int) -> int:
        """A request's price in micro-USD from its per-image price `each`, `n` images made,
        the prompt's tokens (an upper bound) and the number of input images: input tokens
        rounded up per 1,000 micro-USD fraction, the total rounded up to `round_up_to`."""
        image_tokens = input_images * self.input_image_tokens
        inputs = -(-(text_tokens * self.input_text_per_1k + image_tokens * self.input_image_per_1k)
                   // 1000)  # fmt: skip
        total = each * n + inputs
        if self.round_up_to > 0:
            total = -(-total // self.round_up_to) * self.round_up_to
        return total


@dataclass(frozen=True, slots=True)
class Features:
    """What the provider offers beyond generations and edits."""

    batches: bool
    batch_input_expiry_days: int
    moderation: bool
    image_moderation: bool
    organization_usage: bool
    streaming: bool
    models_list: bool


@dataclass(frozen=True, slots=True)
class Pacing:
    """IPM/TPM (OpenAI, Azure), N requests at once (fal), or none (the gateway states none)."""

    mode: PacingMode
    concurrency: int


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    """One provider's dialect, read once at start-up (bot/provider/profiles.py)."""

    name: str
    title: str
    source: str  # the shipped name or the operator's file, for messages
    api: Api
    hosts: tuple[str, ...]
    auth: Auth
    urls: Urls
    models: ModelIds
    edits: Edits
    results: Results
    costs: Costs
    envelope: Envelope
    features: Features
    pacing: Pacing
    limits: Limits = field(default_factory=Limits)
    base_url: str = ""  # used when OPENAI_BASE_URL is unset; "" requires OPENAI_BASE_URL

    def lacks(self) -> tuple[str, ...]:
        """What this provider does not offer, as short phrases for `check` and refusals."""
        f = self.features
        missing = [
            ("batches (relaxed speed)", f.batches),
            ("moderation (screening)", f.moderation),
            ("image moderation (screening images)", f.moderation and f.image_moderation),
            ("organization usage (reconcile)", f.organization_usage),
            ("masks on edits", self.edits.masks),
            ("markup on edits", self.edits.markup),
            ("streaming (previews)", f.streaming),
            ("a /models list", f.models_list),
        ]
        lacking = [what for what, has in missing if not has]
        if self.edits.masks and (maskless := _maskless(self.edits, self.models)):
            lacking.append(maskless)
        if self.limits.max_images < 10:
            lacking.append(f"more than {self.limits.max_images} images per request")
        absent = [f for f in ("png", "jpeg", "webp") if f not in self.limits.output_formats]
        lacking += [f"{f.upper()} output" for f in absent]
        return tuple(lacking)


def _maskless(edits: Edits, models: ModelIds) -> str:
    """'masks on gpt-image-1-mini edits' when some models' edit endpoints take none, else ''."""
    named = [m for m in models.edit_names or models.names if not edits.takes_mask(m)]
    return f"masks on {', '.join(named)} edits" if named else ""
