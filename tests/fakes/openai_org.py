"""The fake's organization record: what it served, as /organization/usage/images and /costs.

Computed from the calls the fake actually answered with images (plus any a test adds, e.g.
another app on the same organization). Shapes follow openai/openai-openapi (UsageImagesResult,
CostsResult; https://github.com/openai/openai-openapi): pages of daily UTC buckets, `has_more` and
`next_page`; results carry only the grouped fields, the others null. Batch API lines count like
synchronous calls (/usage/images has no `batch` filter or group, unlike /usage/completions) and
cost the batch prices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tests.fakes.openai_models import MODELS
from tests.fakes.openai_rules import ApiError

DAY = 86_400
DEFAULT_PROJECT = "proj_default"
BOT_KEY_ID = "key_bot"  # the id the organization gives the fake's own API key
USAGE_LIMITS = (7, 31)  # default and maximum daily buckets per page (spec, bucket_width=1d)
COSTS_LIMITS = (7, 180)
USAGE_GROUPS = frozenset({"project_id", "user_id", "api_key_id", "model", "size", "source"})
COSTS_GROUPS = frozenset({"project_id", "line_item", "api_key_id"})


@dataclass(frozen=True)
class Served:
    """One images call the organization would be billed for."""

    at: int  # unix seconds
    model: str
    size: str
    source: str  # image.generation | image.edit
    images: int
    text_input: int
    image_input: int
    image_output: int
    text_output: int = 0
    project: str = DEFAULT_PROJECT
    batch: bool = False  # a Batch API line: billed at the batch prices
    api_key_id: str = BOT_KEY_ID


def served_from(
    at: float,
    model: str,
    size: str,
    source: str,
    n: int,
    usage: Mapping[str, Any],
    project: str,
    *,
    batch: bool = False,
    api_key_id: str = BOT_KEY_ID,
) -> Served:
    """A Served record from an answered call's `usage` (output without details is image output)."""
    details = usage.get("input_tokens_details") or {}
    out = usage.get("output_tokens_details") or {}
    output = int(usage.get("output_tokens", 0))
    text_out = int(out.get("text_tokens", 0))
    return Served(
        at=math.floor(at),  # whole seconds, as the ledger and the API's timestamps are
        model=model,
        size=size,
        source=source,
        images=n,
        text_input=int(details.get("text_tokens", 0)),
        image_input=int(details.get("image_tokens", 0)),
        image_output=int(out.get("image_tokens", output - text_out)),
        text_output=text_out,
        project=project,
        batch=batch,
        api_key_id=api_key_id,
    )


def admin_auth(given: str, admin_key: str, api_key: str) -> None:
    """An admin key passes; the project key lacks the scope (403); anything else is 401."""
    if given == f"Bearer {admin_key}":
        return
    if given == f"Bearer {api_key}":
        raise ApiError(
            403,
            None,
            "You have insufficient permissions for this operation. Missing scopes: "
            "api.usage.read. Check that you have the correct role in your organization, "
            "and if you're using a restricted API key, that it has the necessary scopes.",
        )
    masked = (given[7:12] or "none") + "****"
    raise ApiError(
        401,
        "invalid_api_key",
        f"Incorrect API key provided: {masked}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    )


def _multi(query: Mapping[str, Any], key: str) -> list[str]:
    """Array params as `key=a&key=b`, `key[]=a` or `key=a,b` (clients send each form)."""
    values: list[str] = []
    for name in (key, f"{key}[]"):
        for raw in query.get(name, []):
            values.extend(v for v in str(raw).split(",") if v)
    return values


class OrgRecord:
    """Answers the two admin endpoints from `served`; `now` is the fake's wall clock."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.served: list[Served] = []

    def usage_page(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        groups = self._groups(query, USAGE_GROUPS)
        return self._page(query, USAGE_LIMITS, lambda calls: self._usage_results(calls, groups))

    def costs_page(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        groups = self._groups(query, COSTS_GROUPS)
        return self._page(query, COSTS_LIMITS, lambda calls: self._cost_results(calls, groups))

    # ---- paging over daily buckets ----------------------------------------------------------
    def _page(
        self,
        query: Mapping[str, list[str]],
        limits: tuple[int, int],
        results: Callable[[list[Served]], list[dict[str, Any]]],
    ) -> dict[str, Any]:
        start, end = self._window(query)
        limit = self._int(query, "limit", limits[0], 1, limits[1])
        offset = self._cursor(query)
        bounds = _buckets(start, end)
        projects = set(_multi(query, "project_ids"))
        keys = set(_multi(query, "api_key_ids"))
        page = bounds[offset : offset + limit]
        data = []
        for lo, hi in page:
            calls = [
                s
                for s in self.served
                if lo <= s.at < hi
                and (not projects or s.project in projects)
                and (not keys or s.api_key_id in keys)
            ]
            data.append({"object": "bucket", "start_time": lo, "end_time": hi,
                         "results": results(calls)})  # fmt: skip
        more = offset + limit < len(bounds)
        return {
            "object": "page",
            "data": data,
            "has_more": more,
            "next_page": f"page_{offset + limit}" if more else None,
        }

    def _window(self, query: Mapping[str, list[str]]) -> tuple[int, int]:
        if "start_time" not in query:
            message = "Missing required parameter: 'start_time'."
            raise ApiError(400, "missing_required_parameter", message, param="start_time")
        width = query.get("bucket_width", ["1d"])[0]
        if width != "1d":
            raise ApiError(400, "invalid_value", "This fake serves bucket_width=1d only.",
                           param="bucket_width")  # fmt: skip
        start = self._int(query, "start_time", 0, 0, 2**40)
        end = self._int(query, "end_time", math.ceil(self.now()), start + 1, 2**40)
        return start, end

    @staticmethod
    def _int(query: Mapping[str, list[str]], key: str, default: int, lo: int, hi: int) -> int:
        raw = query.get(key, [str(default)])[0]
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, "invalid_type", f"Invalid type for '{key}': expected an integer.",
                           param=key) from None  # fmt: skip
        if not lo <= value <= hi:
            message = f"Invalid '{key}': {value} is not between {lo} and {hi}."
            raise ApiError(400, "invalid_value", message, param=key)
        return value

    @staticmethod
    def _cursor(query: Mapping[str, list[str]]) -> int:
        page = query.get("page", [""])[0]
        if not page:
            return 0
        if not page.startswith("page_") or not page[5:].isdigit():
            raise ApiError(400, "invalid_value", f"Invalid page cursor: '{page}'.", param="page")
        return int(page[5:])

    @staticmethod
    def _groups(query: Mapping[str, list[str]], allowed: frozenset[str]) -> tuple[str, ...]:
        groups = tuple(_multi(query, "group_by"))
        bad = [g for g in groups if g not in allowed]
        if bad:
            listed = ", ".join(f"'{a}'" for a in sorted(allowed))
            raise ApiError(400, "invalid_value",
                           f"Invalid value: '{bad[0]}'. Supported values are: {listed}.",
                           param="group_by")  # fmt: skip
        return groups

    # ---- results ------------------------------------------------------------------------------
    def _usage_results(self, calls: list[Served], groups: tuple[str, ...]) -> list[dict[str, Any]]:
        totals: dict[tuple[Any, ...], list[int]] = {}
        for s in calls:
            key = tuple(_field(s, g) for g in groups)
            row = totals.setdefault(key, [0, 0])
            row[0] += s.images
            row[1] += 1
        out = []
        for key, (images, requests) in totals.items():
            result: dict[str, Any] = {
                "object": "organization.usage.images.result",
                "images": images,
                "num_model_requests": requests,
            }
            result.update(dict.fromkeys(sorted(USAGE_GROUPS)))
            result.update(dict(zip(groups, key, strict=True)))
            out.append(result)
        return out

    def _cost_results(self, calls: list[Served], groups: tuple[str, ...]) -> list[dict[str, Any]]:
        totals: dict[tuple[Any, ...], list[Decimal]] = {}
        for s in calls:
            for item, tokens, amount in self._line_items(s):
                fields = {"line_item": item, "project_id": s.project, "api_key_id": s.api_key_id}
                key = tuple(fields[g] for g in groups)
                row = totals.setdefault(key, [Decimal(0), Decimal(0)])
                row[0] += amount
                row[1] += tokens
        out = []
        for key, (usd, quantity) in totals.items():
            result: dict[str, Any] = {
                "object": "organization.costs.result",
                # The real API sends long decimals; a float is what JSON can carry here.
                "amount": {"value": float(usd), "currency": "usd"},
                "quantity": float(quantity),
                "quantity_unit": "tokens",
                "line_item": None,
                "project_id": None,
                "api_key_id": None,
            }
            result.update(dict(zip(groups, key, strict=True)))
            out.append(result)
        return out

    def _line_items(self, s: Served) -> Iterable[tuple[str, int, Decimal]]:
        """Line items as the live API names them: "<model> <image|text>, <input|output>".

        Batch lines cost the batch prices; whether the live API names them apart is
        not documented, so they share the synchronous calls' line items."""
        model = MODELS[s.model]
        prices = model.prices.halved() if s.batch else model.prices
        per_token = Decimal(1) / Decimal(10**6)  # USD per 1M tokens -> USD per token
        for item, tokens, rate in (
            ("text, input", s.text_input, prices.text_input),
            ("image, input", s.image_input, prices.image_input),
            ("image, output", s.image_output, prices.image_output),
            ("text, output", s.text_output, prices.text_output),
        ):
            if tokens and rate:
                yield f"{s.model} {item}", tokens, Decimal(tokens) * rate * per_token


def _field(s: Served, group: str) -> Any:
    return {
        "model": s.model,
        "size": s.size,
        "source": s.source,
        "project_id": s.project,
        "user_id": None,
        "api_key_id": s.api_key_id,
    }[group]


def _buckets(start: int, end: int) -> list[tuple[int, int]]:
    """Daily buckets: the first from start to the next UTC midnight, the last ending at end."""
    bounds = []
    lo = start
    while lo < end:
        hi = min(end, (lo // DAY + 1) * DAY)
        bounds.append((lo, hi))
        lo = hi
    return bounds
