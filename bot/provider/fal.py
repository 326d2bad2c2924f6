"""fal.ai's queue API behind the image backend's interface: submit, status, result (Key auth).

https://docs.fal.ai/model-endpoints/queue: POST queue.fal.run/{model_id}[/{subpath}] answers a
`request_id`; GET {model_id}/requests/{id}/status says IN_QUEUE, IN_PROGRESS or COMPLETED;
GET {model_id}/requests/{id} gives the model's output, `images: [{url, width, height}]` on fal's
CDN. The status and result paths use the model id without its subpath.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bot.catalog.fields import parse_size
from bot.catalog.pricing import text_tokens_upper_bound
from bot.domain import ImageRequest, ImagesResult, InputImage, PartialImage, TokenUsage
from bot.provider.costs import listed_cost, with_cost
from bot.provider.dialect import data_uri
from bot.provider.download import ResultDownloader
from bot.provider.failures import malformed, translate_error, translate_transport_error
from bot.provider.profile import ProviderProfile
from bot.provider.timeouts import ReadTimeouts
from bot.provider.wire import MalformedResponseError, image_size

_HTTPX_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError)
POLL_FIRST, POLL_MAX = 0.25, 5.0  # seconds between status polls, doubling


MaskConverter = Callable[[InputImage], InputImage]


def fal_input(
    request: ImageRequest, profile: ProviderProfile, convert_mask: MaskConverter | None = None
) -> dict[str, Any]:
    """The model input in fal's names (`image_size`, `num_images`, `image_urls` and the mask as
    data URIs, the mask in the profile's field and convention); "auto" values are left to fal's
    defaults."""
    opts = request.options
    body: dict[str, Any] = {"prompt": request.prompt, "num_images": opts.n}
    for key, value in (
        ("quality", opts.quality),
        ("background", opts.background), ("output_format", opts.output_format),
    ):  # fmt: skip
        if value and value != "auto":
            body[key] = value
    size = _fal_size(opts.size, opts.model, profile)
    if size is not None:
        body["image_size"] = size
    if request.operation == "edit":
        body["image_urls"] = [data_uri(image) for image in request.images]
        if opts.input_fidelity:
            body["input_fidelity"] = opts.input_fidelity
        if request.mask is not None:
            mask = request.mask if convert_mask is None else convert_mask(request.mask)
            body[profile.edits.mask_field_for(opts.model)] = data_uri(mask)
    return body


def _fal_size(size: str, model: str, profile: ProviderProfile) -> str | dict[str, int] | None:
    """`image_size` as the model's endpoint documents it: "WxH" from the gpt-image-1 family's
    list, or `{width, height}` where the profile says so (openai/gpt-image-2 takes presets or
    explicit dimensions, https://fal.ai/models/openai/gpt-image-2/llms.txt); None for "auto"."""
    if not size or size == "auto":
        return None
    parsed = parse_size(size)
    if model in profile.limits.size_objects and parsed is not None:
        return {"width": parsed[0], "height": parsed[1]}
    return size


class FalQueueClient:
    """Runs one ImageRequest through fal's queue. Once fal has taken the request (a request id
    came back) any later failure is in doubt: fal may make and bill it, so it is never resent."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        profile: ProviderProfile,
        downloader: ResultDownloader,
        timeouts: ReadTimeouts | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        convert_mask: MaskConverter | None = None,
    ) -> None:
        self._http = http
        self._convert_mask = convert_mask  # to the profile's mask convention (bot/imaging)
        self._profile = profile
        self._downloader = downloader
        self._timeouts = timeouts or ReadTimeouts()
        self._sleep = sleep
        self._monotonic = monotonic

    @property
    def profile(self) -> ProviderProfile:
        """The provider profile this client speaks (what the cogs offer and refuse follows it)."""
        return self._profile

    def __repr__(self) -> str:
        return f"FalQueueClient(base_url={str(self._http.base_url)!r})"

    async def run(
        self,
        request: ImageRequest,
        *,
        on_partial: Callable[[PartialImage], Awaitable[None]] | None = None,
        on_failed_attempt: Callable[[Any], Awaitable[None]] | None = None,
    ) -> ImagesResult:
        """Submit, wait for COMPLETED within the request's read timeout, fetch and download."""
        started = self._monotonic()
        upstream = self._profile.models.upstream(request.options.model, request.operation)
        app = "/".join(upstream.split("/")[:2])  # the model id without its subpath
        request_id = await self._submit(
            upstream, fal_input(request, self._profile, self._convert_mask), request.options.model
        )
        deadline = started + self._timeouts.read_seconds(request)
        try:
            payload = await self._wait(app, request_id, deadline, request.options.model)
            items = _items(payload)
        except MalformedResponseError as exc:
            raise malformed(str(exc), status=200, request_id=request_id) from None
        try:
            images = tuple([await self._downloader.fetch(item.get("url")) for item in items])
        except MalformedResponseError as exc:
            # COMPLETED with its images listed: fal made (and bills) them; only the CDN failed.
            raise malformed(str(exc), status=200, request_id=request_id, made=True,
                            reported=self._listed(request)) from None  # fmt: skip
        return self._result(request, payload, images, request_id, started)

    def _listed(self, request: ImageRequest) -> tuple[int, str] | None:
        """The request's price at fal's list, as asked (its images never seen), or None."""
        opts = request.options
        inputs = (text_tokens_upper_bound(request.prompt), len(request.images))
        return listed_cost(self._profile, opts.model, opts.size, opts.quality, opts.n, inputs)

    async def list_models(self) -> list[str]:
        """fal has no list of the account's models: the profile's table is what it serves."""
        return list(self._profile.models.names)

    async def _submit(self, upstream: str, body: dict[str, Any], model: str) -> str:
        try:
            response = await self._http.post(upstream, json=body)
        except _HTTPX_ERRORS as exc:
            raise translate_transport_error(exc) from None
        if response.status_code >= 300:
            raise translate_error(response.status_code, response.content, response.headers,
                                  model=model, request_id=None)  # fmt: skip
        try:
            request_id = json.loads(response.content)["request_id"]
        except (ValueError, KeyError, TypeError):
            raise malformed("no request_id", status=response.status_code, request_id=None) from None
        if not isinstance(request_id, str) or not request_id or "/" in request_id:
            raise malformed("a bad request_id", status=response.status_code, request_id=None)
        return request_id

    async def _wait(self, app: str, rid: str, deadline: float, model: str) -> dict[str, Any]:
        pause = POLL_FIRST
        while True:
            status = await self._get(f"{app}/requests/{rid}/status", rid, model)
            if status.get("status") == "COMPLETED":
                return await self._get(f"{app}/requests/{rid}", rid, model)
            if self._monotonic() + pause > deadline:
                raise MalformedResponseError("fal did not finish the request in time")
            await self._sleep(pause)
            pause = min(POLL_MAX, pause * 2)

    async def _get(self, path: str, rid: str, model: str) -> dict[str, Any]:
        try:
            response = await self._http.get(path)
        except _HTTPX_ERRORS as exc:
            raise MalformedResponseError(f"fal could not be asked: {type(exc).__name__}") from None
        if 400 <= response.status_code < 500 and not path.endswith("/status"):
            # fal refused the input when it ran it (a validation error): made nothing.
            raise translate_error(response.status_code, response.content, response.headers,
                                  model=model, request_id=rid)  # fmt: skip
        if response.status_code >= 300:
            raise MalformedResponseError(f"fal answered {response.status_code}")
        try:
            payload = json.loads(response.content)
        except ValueError:
            raise MalformedResponseError("fal's answer is not JSON") from None
        if not isinstance(payload, dict):
            raise MalformedResponseError("fal's answer is not a JSON object")
        return payload

    def _result(
        self,
        request: ImageRequest,
        payload: dict[str, Any],
        images: tuple[bytes, ...],
        request_id: str,
        started: float,
    ) -> ImagesResult:
        opts = request.options
        size = image_size(images[0]) or opts.size
        result = ImagesResult(
            images=images, size=size, quality=opts.quality, output_format=opts.output_format,
            background=opts.background or "auto", usage=TokenUsage(), request_id=request_id,
            latency_ms=max(0, round((self._monotonic() - started) * 1000)),
            usage_reported=False,  # fal reports no tokens: its price list, else the estimate
        )  # fmt: skip
        inputs = (text_tokens_upper_bound(request.prompt), len(request.images))
        return with_cost(result, self._profile, model=opts.model, payload=payload, headers={},
                         inputs=inputs)  # fmt: skip


def _items(payload: dict[str, Any]) -> list[dict[str, Any]]:
    images = payload.get("images")
    if not isinstance(images, list) or not images:
        raise MalformedResponseError("fal's result has no images")
    return [item if isinstance(item, dict) else {} for item in images]
