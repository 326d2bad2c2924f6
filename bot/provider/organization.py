"""The organization's own record: GET /organization/usage/images and /organization/costs.

Shapes from openai/openai-openapi (UsageImagesResult, CostsResult;
docs/sources.md#usage-costs): pages of daily buckets `{object: "page", data: [{start_time,
end_time, results: [...]}], has_more, next_page}`, followed with `page=<next_page>`. Both need an
organization admin key (`sk-admin-...`); a project key gets 403 "Missing scopes: api.usage.read".
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx

from bot.errors import AuthenticationError, UpstreamError, UpstreamUnavailableError
from bot.provider.failures import redact

USAGE_PAGE_LIMIT = 31  # the most daily buckets a usage page holds (spec: 1d max 31)
COSTS_PAGE_LIMIT = 180  # the most daily buckets a costs page holds (spec: 1-180)
MAX_PAGES = 100  # a guard against a server that never stops saying has_more


@dataclass(frozen=True, slots=True)
class ImagesUsage:
    """One result of /organization/usage/images grouped by model, size and source (a UTC day)."""

    day: date
    model: str
    size: str | None
    source: str | None  # image.generation | image.edit | image.variation
    images: int
    requests: int  # num_model_requests


@dataclass(frozen=True, slots=True)
class CostLine:
    """One result of /organization/costs grouped by line item: USD, exact as the API sent it."""

    day: date
    line_item: str | None  # e.g. "gpt-image-2 image, output"
    amount_usd: Decimal
    quantity: Decimal | None = None  # how much of quantity_unit the line bills
    quantity_unit: str | None = None  # "tokens", "1000_tokens", "images", ... (openai 3.63.0)


class OrganizationClient:
    """Reads usage and costs with an admin key; raises AuthenticationError or UpstreamError.

    The httpx client carries the admin key; httpx masks Authorization in reprs, and no request
    URL or header is logged here.
    """

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    def __repr__(self) -> str:
        return f"OrganizationClient(base_url={str(self._http.base_url)!r})"

    async def images_usage(
        self, start: datetime, end: datetime, *, project: str | None, page_limit: int = 0
    ) -> list[ImagesUsage]:
        """Every daily images-usage result in [start, end), by model, size and source."""
        params = _window(start, end, project, page_limit or USAGE_PAGE_LIMIT)
        params["group_by"] = ["model", "size", "source"]
        found = []
        async for day, result in self._results("organization/usage/images", params):
            found.append(
                ImagesUsage(
                    day=day,
                    model=str(result.get("model") or "unknown"),
                    size=_text(result.get("size")),
                    source=_text(result.get("source")),
                    images=int(result.get("images") or 0),
                    requests=int(result.get("num_model_requests") or 0),
                )
            )
        return found

    async def costs(
        self, start: datetime, end: datetime, *, project: str | None, page_limit: int = 0
    ) -> list[CostLine]:
        """Every daily cost result in [start, end), by line item (amounts in USD)."""
        params = _window(start, end, project, page_limit or COSTS_PAGE_LIMIT)
        params["group_by"] = ["line_item"]
        found = []
        async for day, result in self._results("organization/costs", params):
            amount = result.get("amount") or {}
            currency = str(amount.get("currency") or "usd").lower()
            if currency != "usd":
                raise UpstreamError(f"costs arrived in {currency}, not USD", status=200)
            found.append(
                CostLine(
                    day=day,
                    line_item=_text(result.get("line_item")),
                    amount_usd=Decimal(str(amount.get("value") or 0)),
                    quantity=_decimal(result.get("quantity")),
                    quantity_unit=_text(result.get("quantity_unit")),
                )
            )
        return found

    async def _results(
        self, path: str, params: dict[str, Any]
    ) -> AsyncIterator[tuple[date, Mapping[str, Any]]]:
        page: str | None = None
        for _ in range(MAX_PAGES):
            body = await self._get(path, {**params, "page": page} if page else params)
            for bucket in body.get("data") or []:
                day = datetime.fromtimestamp(int(bucket["start_time"]), UTC).date()
                for result in bucket.get("results") or []:
                    yield day, result
            page = body.get("next_page")
            if not body.get("has_more") or not page:
                return
        raise UpstreamError(f"{path}: more than {MAX_PAGES} pages", status=200)

    async def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._http.get(path, params=params)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            detail = redact(str(exc)) or type(exc).__name__
            raise UpstreamUnavailableError(f"could not reach {path}: {detail}") from None
        rid = response.headers.get("x-request-id")
        if response.status_code >= 300:
            raise _error(response.status_code, response.content, rid)
        try:
            # Amounts arrive as very long decimals: parse them as Decimal, never float.
            body = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise UpstreamError(f"{path}: not JSON", status=response.status_code) from None
        if not isinstance(body, dict):
            raise UpstreamError(f"{path}: not a page", status=response.status_code)
        return body


def _window(start: datetime, end: datetime, project: str | None, limit: int) -> dict[str, Any]:
    params: dict[str, Any] = {
        "start_time": int(start.timestamp()),
        "end_time": int(end.timestamp()),  # exclusive; callers clamp it to now
        "bucket_width": "1d",
        "limit": limit,
    }
    if project:
        params["project_ids"] = [project]
    return params


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _error(status: int, body: bytes, request_id: str | None) -> UpstreamError:
    try:
        err = json.loads(body).get("error") or {}
        message = str(err.get("message") or "")
        code = err.get("code")
    except (ValueError, AttributeError):
        message, code = "", None
    text = redact(message) or f"HTTP {status}"
    if status in (401, 403):
        return AuthenticationError(
            f"the admin key was refused: {text}", status=status, code=code, request_id=request_id
        )
    return UpstreamError(text, status=status, code=code, request_id=request_id)
