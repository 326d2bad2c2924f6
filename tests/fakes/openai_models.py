"""The fake provider's own model table, written from OpenAI's documentation, never the bot's.

Each figure names its source. Tags, as public pages:
[OAS]  https://github.com/openai/openai-openapi (openapi.yaml: CreateImageRequest,
       CreateImageEditRequest, ImageGenUsage)
[SDK]  https://pypi.org/project/openai/ 3.63.0 (types/image_model.py, image_generate_params.py,
       image_edit_params.py)
[GUIDE] https://developers.openai.com/api/docs/guides/image-generation (cost tables, sizes)
[VISION] https://developers.openai.com/api/docs/guides/images-vision ("Calculating costs")
[M-1]  https://developers.openai.com/api/docs/models/gpt-image-1.md
[M-mini] https://developers.openai.com/api/docs/models/gpt-image-1-mini.md
[M-1.5] https://developers.openai.com/api/docs/models/gpt-image-1.5.md
[M-2]  https://developers.openai.com/api/docs/models/gpt-image-2.md
[M-2.6S] https://developers.openai.com/ja-JP/api/docs/models/gpt-image-2.6-sunburst
[DEP]  https://developers.openai.com/api/docs/deprecations
[BATCH-FAQ] https://help.openai.com/en/articles/9197833-batch-api-faq
[3P-26] https://docs.laozhang.ai/en/api-capabilities/gpt-image-2-6 (third party, measured)
[3P-GW] https://vercel.com/ai-gateway/models/gpt-image-2.6-sunburst.md (third party)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

FIXED_SIZES = ("1024x1024", "1536x1024", "1024x1536")  # [OAS] CreateImageRequest.size enum
BASE_QUALITIES = ("low", "medium", "high")  # [OAS] quality enum (plus "auto")
DEEP_QUALITIES = ("xhigh", "max")  # [SDK] image_generate_params.quality, GPT Image 2.5+
BACKGROUNDS = ("transparent", "opaque", "auto")  # [OAS] background enum
OUTPUT_FORMATS = ("png", "jpeg", "webp")  # [OAS]; gif/svg [SDK] are gated previews, not served
COMPLEXITIES = ("low", "medium", "high")  # [SDK] image_generate_params.complexity (2.6)
BATCH_DISCOUNT = Decimal("0.5")  # [BATCH-FAQ] "50% cost discount vs. the synchronous APIs"


@dataclass(frozen=True)
class FreeSize:
    """gpt-image-2's WxH rule [GUIDE] ("Size and quality options"), kept by 2.5 and 2.6 [SDK]."""

    multiple: int = 16  # both edges multiples of 16
    max_edge: int = 3840  # longest edge <= 3840 px
    max_ratio: int = 3  # aspect ratio <= 3:1
    min_pixels: int = 655_360
    max_pixels: int = 8_294_400

    def accepts(self, width: int, height: int) -> bool:
        short, long = sorted((width, height))
        return (
            short > 0
            and width % self.multiple == 0
            and height % self.multiple == 0
            and long <= self.max_edge
            and long <= self.max_ratio * short
            and self.min_pixels <= width * height <= self.max_pixels
        )


@dataclass(frozen=True)
class Prices:
    """USD per 1M tokens; a zero rate is not billed."""

    text_input: Decimal
    image_input: Decimal
    image_output: Decimal
    text_output: Decimal = Decimal(0)

    def halved(self) -> Prices:
        """The Batch API's prices: half of each rate [BATCH-FAQ]."""
        return Prices(*(rate * BATCH_DISCOUNT for rate in self.__dict__.values()))


Table = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class FakeModel:
    """What the fake's API takes and bills for one model id."""

    name: str
    prices: Prices
    output_tokens: Table  # image output tokens per image, by size and quality
    qualities: tuple[str, ...] = BASE_QUALITIES
    free_size: FreeSize | None = None
    input_fidelity: bool = False  # the `input_fidelity` field is accepted
    always_high_fidelity: bool = False
    transparent_background: bool = True
    markup: bool = False  # the `markup` edit field is accepted
    complexity: bool = False  # the `complexity` field is accepted
    shutdown: str | None = None  # [DEP]; recorded, not enforced (the bot's catalog refuses)
    max_n: int = 10  # [OAS] n 1-10
    max_prompt_chars: int = 32_000  # [OAS] prompt maxLength for GPT image models
    max_input_images: int = 16  # [OAS] image maxItems 16
    partial_image_tokens: int = 100  # [GUIDE] "each partial image costs 100 output tokens"
    sizes: tuple[str, ...] = field(default=FIXED_SIZES)

    def takes_size(self, size: str) -> bool:
        if size in self.sizes:
            return True
        parsed = parse_size(size)
        return self.free_size is not None and parsed is not None and self.free_size.accepts(*parsed)

    def tokens_for(self, size: str, quality: str) -> int:
        """The table's figure; a free size the table lacks scales by pixels from 1024x1024,
        rounded up (the fake's assumption: the docs give only a calculator for other sizes)."""
        row = self.output_tokens.get(size)
        if row is not None:
            return row[quality]
        width, height = parse_size(size) or (1024, 1024)
        return math.ceil(self.output_tokens["1024x1024"][quality] * width * height / 1024**2)


def parse_size(size: str) -> tuple[int, int] | None:
    width, sep, height = size.partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        return None
    return int(width), int(height)


def _table(rows: Mapping[str, tuple[int, ...]], qualities: tuple[str, ...]) -> Table:
    return {size: dict(zip(qualities, row, strict=True)) for size, row in rows.items()}


def _per_image(prices_usd: Mapping[str, tuple[str, str, str]], rate: Decimal) -> Table:
    """Tokens from official per-image prices: price / rate per token, to the nearest token."""
    return {
        size: {
            q: round(Decimal(p) / rate * 10**6) for q, p in zip(BASE_QUALITIES, row, strict=True)
        }
        for size, row in prices_usd.items()
    }


# [GUIDE] cost table for the models before gpt-image-2: output tokens by quality x size.
GPT_IMAGE_1_TOKENS = _table(
    {"1024x1024": (272, 1056, 4160), "1024x1536": (408, 1584, 6240),
     "1536x1024": (400, 1568, 6208)},
    BASE_QUALITIES,
)  # fmt: skip

# [M-mini] official per-image prices; at $8/1M they are NOT the [GUIDE] table's tokens (272 x
# $8/1M = $0.0022 < $0.005), so the fake bills what the list price implies.
MINI_TOKENS = _per_image(
    {"1024x1024": ("0.005", "0.011", "0.036"), "1024x1536": ("0.006", "0.015", "0.052"),
     "1536x1024": ("0.006", "0.015", "0.052")},
    Decimal(8),
)  # fmt: skip

# [GUIDE] gpt-image-2 per-image examples (low $0.006/0.005/0.005, medium $0.053/0.041/0.041,
# high $0.211/0.165/0.165 for 1024x1024, 1024x1536, 1536x1024) at $30/1M image output.
GPT_IMAGE_2_TOKENS = _per_image(
    {"1024x1024": ("0.006", "0.053", "0.211"), "1024x1536": ("0.005", "0.041", "0.165"),
     "1536x1024": ("0.005", "0.041", "0.165")},
    Decimal(30),
)  # fmt: skip


def _with_deep(table: Table) -> Table:
    """xhigh and max: no figure is published; the fake bills them as `high` ([3P-26]: "high and
    above cost the same as 2.5")."""
    return {size: {**row, "xhigh": row["high"], "max": row["high"]} for size, row in table.items()}


def _times_four_below_high(table: Table) -> Table:
    """2.6 vs 2.5 [3P-26]: low and medium use 3-4x the tokens (the fake takes 4x, so 1536x1024
    low is 668, the page measured ~664); high and above the same as 2.5."""
    return {
        size: {q: v * 4 if q in ("low", "medium") else v for q, v in row.items()}
        for size, row in table.items()
    }


GPT_IMAGE_2_RATES = Prices(Decimal(5), Decimal(8), Decimal(30))  # [M-2.6S]; [3P-GW] for 2 / 2.5
GPT_IMAGE_2 = FakeModel(
    name="gpt-image-2",
    prices=GPT_IMAGE_2_RATES,
    output_tokens=GPT_IMAGE_2_TOKENS,
    free_size=FreeSize(),
    always_high_fidelity=True,  # [GUIDE]: inputs always high fidelity; input_fidelity refused
    transparent_background=False,  # [GUIDE] "not supported" (the spec says preview)
    sizes=(*FIXED_SIZES, "2048x2048", "2048x1152", "3840x2160", "2160x3840"),  # [GUIDE]
)
# 2.5 [SDK]: xhigh/max, markup ("Supports GPT Image 2.5. Cannot be combined with mask."); no
# token figures are published, so gpt-image-2's. No complexity (a 2.6 feature [SDK], 3p).
GPT_IMAGE_25 = replace(
    GPT_IMAGE_2,
    qualities=BASE_QUALITIES + DEEP_QUALITIES,
    output_tokens=_with_deep(GPT_IMAGE_2_TOKENS),
    markup=True,
)
# 2.6 [SDK] ImageModel enum, [M-2.6S] prices; complexity and markup [SDK]/3p.
GPT_IMAGE_26 = replace(
    GPT_IMAGE_25,
    output_tokens=_times_four_below_high(_with_deep(GPT_IMAGE_2_TOKENS)),
    complexity=True,
)


def _models() -> dict[str, FakeModel]:
    one = FakeModel(
        name="gpt-image-1",
        prices=Prices(Decimal(5), Decimal(10), Decimal(40)),  # [M-1]
        output_tokens=GPT_IMAGE_1_TOKENS,
        input_fidelity=True,  # [OAS] InputFidelity: gpt-image-1 and 1.5
        shutdown="2026-10-23",  # [DEP]
    )
    models = [
        one,
        replace(
            one,
            name="gpt-image-1-mini",
            prices=Prices(Decimal(2), Decimal("2.5"), Decimal(8)),
            output_tokens=MINI_TOKENS,
            input_fidelity=False,  # [OAS]: unsupported for mini
            shutdown="2026-12-01",
        ),  # [M-mini], [DEP]
        # [M-1.5]: text output billed at $10/1M
        replace(
            one,
            name="gpt-image-1.5",
            prices=Prices(Decimal(5), Decimal(8), Decimal(32), Decimal(10)),
            shutdown="2026-12-01",
        ),
        GPT_IMAGE_2,
        replace(GPT_IMAGE_2, name="gpt-image-2-2026-04-21"),  # [OAS] snapshot
    ]
    for variant in ("flare", "sunburst"):
        for name in (f"gpt-image-2.5-{variant}", f"gpt-image-2.5-{variant}-2026-09-08"):
            models.append(replace(GPT_IMAGE_25, name=name))  # [SDK] ids and snapshots
        models.append(replace(GPT_IMAGE_26, name=f"gpt-image-2.6-{variant}"))  # no snapshot
    return {m.name: m for m in models}


MODELS: Mapping[str, FakeModel] = _models()
