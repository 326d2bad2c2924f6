"""What a call cost, read where the profile says the provider reports it (or its price list)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.domain import ImagesResult
from bot.money import MICRO_PER_USD
from bot.provider.profile import ProviderProfile

# The ledger's price_version for a published per-image price (bot/store/usage.py reads it).
PER_IMAGE_BASIS = "per-image price"


def with_cost(
    result: ImagesResult,
    profile: ProviderProfile,
    *,
    model: str,
    payload: Mapping[str, Any],
    headers: Mapping[str, str],
    inputs: tuple[int, int] = (0, 0),
) -> ImagesResult:
    """The result with the provider's own cost (marked by its source) when it reports one, or
    its published per-image price (plus the list's input tokens for `inputs`, the prompt's
    tokens as an upper bound and the number of input images, and its rounding); unchanged
    (priced from `usage` or the estimate) otherwise."""
    costs = profile.costs
    if costs.source == "body":
        micro = _usd(_dig(payload, costs.field))
        basis = f"{profile.name}: {costs.field}"
    elif costs.source == "header":
        micro = _usd(headers.get(costs.field))
        basis = f"{profile.name}: {costs.field} header"
    elif costs.source == "per_image":
        listed = listed_cost(profile, model, result.size, result.quality, len(result.images),
                             inputs)  # fmt: skip
        micro, basis = listed if listed is not None else (None, "")
    else:
        return result
    if micro is None:
        return result
    return replace(result, reported_cost_micro_usd=micro, cost_basis=basis)


def listed_cost(
    profile: ProviderProfile, model: str, size: str, quality: str, n: int, inputs: tuple[int, int]
) -> tuple[int, str] | None:
    """A request's price at the profile's per-image list (micro-USD, its basis) for `n` images
    and `inputs` (the prompt's tokens as an upper bound, the number of input images); None
    where the list has no price for it."""
    costs = profile.costs
    each = costs.price(model, size, quality) if costs.source == "per_image" else None
    if each is None:
        return None
    return costs.request_price(each, n, *inputs), f"{profile.name}: {PER_IMAGE_BASIS}"


def reported_cost(
    profile: ProviderProfile, body: bytes, headers: Mapping[str, str]
) -> tuple[int, str] | None:
    """The cost (micro-USD, its source) a 2xx answer reported in its body or headers, read even
    when its images cannot be used; None where the provider reports none (a price list is not
    a report: such a call stays in doubt)."""
    costs = profile.costs
    if costs.source == "header":
        micro = _usd(headers.get(costs.field))
        return None if micro is None else (micro, f"{profile.name}: {costs.field} header")
    if costs.source != "body":
        return None
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    micro = _usd(_dig(payload, costs.field)) if isinstance(payload, Mapping) else None
    return None if micro is None else (micro, f"{profile.name}: {costs.field}")


@dataclass(frozen=True, slots=True)
class JobShape:
    """What a job asks for, as a price list bills it: `n` images of `model` at `size` and
    `quality` in `requests` requests, each paying `text_tokens` (an upper bound of the prompt's)
    and `input_images` uploaded images."""

    model: str
    size: str
    quality: str
    n: int
    text_tokens: int
    input_images: int
    requests: int


def reservation(profile: ProviderProfile, estimate: int, shape: JobShape) -> int:
    """What to reserve for a job on this provider, micro-USD: the catalog's upper-bound
    `estimate` (OpenAI's list), raised to the profile's per-image list where that bills more
    (fal rounds each request up to the cent), then by its `[cost] markup_percent` (a gateway
    that bills its own cost above OpenAI's list)."""
    listed = listed_upper_bound(profile, shape)
    return profile.costs.with_markup(max(estimate, listed or 0))


def listed_upper_bound(profile: ProviderProfile, shape: JobShape) -> int | None:
    """The most a job of this shape can cost at the profile's per-image list, micro-USD, each
    request rounded up on its own; None without a list price for its model, size and quality
    (then the catalog's estimate is the bound)."""
    costs = profile.costs
    each = costs.price(shape.model, shape.size, shape.quality)
    if costs.source != "per_image" or each is None:
        return None
    unrounded = replace(costs, round_up_to=0).request_price(
        each, shape.n, shape.text_tokens * shape.requests, shape.input_images
    )
    return unrounded + shape.requests * costs.round_up_to


def _dig(payload: Mapping[str, Any], dotted: str) -> object:
    node: object = payload
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _usd(value: object) -> int | None:
    """A USD amount (number or numeric string) -> micro-USD, rounded; None if not a cost."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    # A zero is no measurement: LiteLLM, for one, reports 0 for a model it has no price for
    # (https://docs.litellm.ai/docs/proxy/cost_tracking); the upper-bound estimate stands.
    if not amount.is_finite() or amount <= 0:
        return None
    return int((amount * MICRO_PER_USD).to_integral_value())
