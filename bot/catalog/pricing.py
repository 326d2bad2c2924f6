"""Pure pricing: the real cost of a response's usage, and an upper-bound estimate of a request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from bot.catalog.fields import AUTO_QUALITIES
from bot.catalog.models import RESOLVED_QUALITIES, ModelSpec, TokenPrices, parse_size
from bot.domain import ImageOptions, TokenUsage
from bot.errors import InvalidOptionError

_PER_MILLION = 1_000_000  # prices are micro-USD per 1M tokens

# A BPE token covers at least one byte, so a prompt never has more tokens than utf-8 bytes. The
# API adds framing tokens it does not document (docs/sources.md#input-image-tokens: about +6
# measured on generations, "more" on edits); 256 covers that with room to spare for well under
# $0.002 at $5/1M.
TEXT_OVERHEAD_TOKENS = 256

# docs/sources.md#input-image-tokens, documented for GPT Image 1 and applied to every model
# (UNCONFIRMED for the others): scale into 2048x2048, shortest side to 512 px, count 512-px tiles.
_TILE_BASE_TOKENS = 65
_TILE_TOKENS = 129
_HIGH_FIDELITY_SQUARE = 4096
_HIGH_FIDELITY_OTHER = 6144


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """What admission reserves: an upper bound of cost, and of tokens for TPM pacing."""

    micro_usd: int
    images: int
    input_tokens: int
    output_tokens: int

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _billed(total: int, cached: int) -> tuple[int, int]:
    """(uncached, cached) of a usage count whose total includes its cached part."""
    total = max(total, 0)
    cached = min(max(cached, 0), total)
    return total - cached, cached


def _scaled_cost(prices: TokenPrices, usage: TokenUsage) -> int:
    """Cost in micro-USD x 1M (exact), so rounding happens once at the end."""
    text, cached_text = _billed(usage.text_input, usage.cached_text_input)
    image, cached_image = _billed(usage.image_input, usage.cached_image_input)
    return (
        text * prices.text_input
        + cached_text * prices.cached_text_input
        + image * prices.image_input
        + cached_image * prices.cached_image_input
        + max(usage.image_output, 0) * prices.image_output
        + max(usage.text_output, 0) * prices.text_output
    )


def cost_of(spec: ModelSpec, usage: TokenUsage, *, relaxed: bool = False) -> int:
    """The real cost of a response's usage in micro-USD, rounded up to a whole micro-USD.

    `relaxed`: a Batch API line, priced at the catalog's batch_prices (ValueError without them).
    """
    return _ceil_div(_scaled_cost(spec.token_prices(relaxed=relaxed), usage), _PER_MILLION)


def text_tokens_upper_bound(prompt: str) -> int:
    """At most one token per utf-8 byte of the prompt, plus the API's undocumented framing."""
    return len(prompt.encode("utf-8")) + TEXT_OVERHEAD_TOKENS


def input_image_tokens(spec: ModelSpec, width: int, height: int, *, high_fidelity: bool) -> int:
    """Input tokens for one uploaded image; gpt-image-2 is always high fidelity.

    Per docs/sources.md#input-image-tokens.

    After scaling the shortest side to 512 px the image is one tile across and
    512 * long / short px along, so ceil(long / short) tiles. Rounding up keeps this an upper
    bound whatever pixel rounding the API applies.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, not {width}x{height}")
    short, long = sorted((width, height))
    tokens = _TILE_BASE_TOKENS + _TILE_TOKENS * _ceil_div(long, short)
    if high_fidelity or spec.always_high_fidelity:
        # "+4096 for a square image, +6144 otherwise": only an exact square gets the lower figure.
        tokens += _HIGH_FIDELITY_SQUARE if width == height else _HIGH_FIDELITY_OTHER
    return tokens


def _table_value(table: Mapping[str, Mapping[str, int]], size: str, quality: str) -> int:
    """The table's figure for size x quality; a size it lacks is scaled by pixels (ceil) from
    the entry with the highest figure per pixel for that quality, 0 when none has the quality."""
    row = table.get(size)
    if row is not None and quality in row:
        return row[quality]
    entries = [(r[quality], _pixels(s)) for s, r in table.items() if quality in r]
    if not entries:
        return 0
    value, pixels = max(entries, key=lambda entry: Fraction(entry[0], entry[1]))
    return _ceil_div(value * _pixels(size), pixels)


def _pixels(size: str) -> int:
    parsed = parse_size(size)
    if parsed is None:
        raise ValueError(f"not a WxH size: {size!r}")
    return parsed[0] * parsed[1]


def _resolved(spec: ModelSpec, size: str, quality: str) -> tuple[str, str]:
    """Validated concrete size and quality; "auto" is not a value the API reports."""
    normalised = spec.validate_size(size)
    if normalised == "auto" or quality not in RESOLVED_QUALITIES:
        raise ValueError(f"a resolved size and quality are needed, not {size!r}/{quality!r}")
    if quality not in spec.qualities:
        raise InvalidOptionError("quality", f"{spec.name} does not offer {quality!r}")
    return normalised, quality


def nominal_output_tokens(spec: ModelSpec, size: str, quality: str) -> int:
    """Image output tokens of one image at a resolved WxH and quality, from the catalog table."""
    size, quality = _resolved(spec, size, quality)
    return _table_value(spec.output_tokens, size, quality)


def list_image_price(spec: ModelSpec, size: str, quality: str) -> int:
    """The catalog's list price of one image in micro-USD (0 when it only bills tokens)."""
    size, quality = _resolved(spec, size, quality)
    return _table_value(spec.image_prices, size, quality)


def _candidates(spec: ModelSpec, options: ImageOptions) -> list[tuple[str, str]]:
    """Every (size, quality) the API may resolve the request to."""
    if options.quality != "auto" and options.quality not in spec.qualities:
        raise InvalidOptionError("quality", f"{spec.name} offers {', '.join(spec.qualities)}")
    size = spec.validate_size(options.size)
    sizes = spec.auto_size_candidates() if size == "auto" else (size,)
    if options.quality == "auto":
        qualities = [q for q in AUTO_QUALITIES if q in spec.qualities]
    else:
        qualities = [options.quality]
    return [(s, q) for s in sizes for q in qualities]


def _dearest_image(spec: ModelSpec, options: ImageOptions, prices: TokenPrices) -> tuple[int, int]:
    """(scaled cost, output tokens) of the dearest image the request may produce.

    An image costs its tokens x the output rate or its list price, whichever is higher; its
    tokens for TPM are likewise the table's or the list price's equivalent, whichever is higher.
    At batch prices the list price scales by the batch/fast image output rates (ceil).
    """
    rate = prices.image_output
    fast_rate = spec.prices.image_output
    best_cost = best_tokens = 0
    for size, quality in _candidates(spec, options):
        tokens = nominal_output_tokens(spec, size, quality)
        listed = list_image_price(spec, size, quality) * _PER_MILLION
        if rate != fast_rate and fast_rate:
            listed = _ceil_div(listed * rate, fast_rate)
        best_cost = max(best_cost, tokens * rate, listed)
        best_tokens = max(best_tokens, tokens, _ceil_div(listed, rate) if rate else 0)
    return best_cost, best_tokens


def estimate(
    spec: ModelSpec,
    options: ImageOptions,
    *,
    prompt: str,
    input_sizes: Sequence[tuple[int, int]] = (),
    requests: int = 1,
    relaxed: bool = False,
) -> CostEstimate:
    """An upper bound of what this request can cost and of its tokens (README: "It never spends
    more than you allowed").

    Quality "auto" is priced as the dearest quality (high) and size "auto" as the dearest size
    it may resolve to; edit inputs (`input_sizes`, the mask included if one is sent) are priced
    at high fidelity whatever the request asks; cached input is assumed not cached. A job that
    may go out as several API requests (`requests`, at most n) pays its prompt once per request,
    so the prompt's text input is counted that many times (input images once: only a job
    without them is ever split). `relaxed` prices a Batch API line at the catalog's batch_prices.
    """
    if options.n < 1:
        raise InvalidOptionError("count", "must be at least 1")
    if not 1 <= requests <= options.n:
        raise ValueError(f"{requests} requests for {options.n} images")
    prices = spec.token_prices(relaxed=relaxed)
    image_cost, image_tokens = _dearest_image(spec, options, prices)
    partial_tokens = max(options.partial_images, 0) * spec.partial_image_tokens
    text_out = spec.text_output_tokens_estimate if prices.text_output else 0
    per_image = image_cost + partial_tokens * prices.image_output + text_out * prices.text_output
    text_in = requests * text_tokens_upper_bound(prompt)
    image_in = sum(input_image_tokens(spec, w, h, high_fidelity=True) for w, h in input_sizes)
    scaled = (
        options.n * per_image
        + text_in * max(prices.text_input, prices.cached_text_input)
        + image_in * max(prices.image_input, prices.cached_image_input)
    )
    # Each request's cost is rounded up to a whole micro-USD on its own (cost_of): one more per
    # request keeps the sum an upper bound, and every image's equal share of the reservation
    # (bot/jobs/split.share) an upper bound of its request's cost.
    rounding = requests if requests > 1 else 0
    return CostEstimate(
        micro_usd=_ceil_div(scaled, _PER_MILLION) + rounding,
        images=options.n,
        input_tokens=text_in + image_in,
        output_tokens=options.n * (image_tokens + partial_tokens + text_out),
    )
