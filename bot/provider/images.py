"""The OpenAI Images API client: generations and edits over httpx, with bounded retries."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from bot.domain import ImageRequest, ImagesResult, PartialImage
from bot.errors import PromptRejectedError, UpstreamError
from bot.provider.costs import reported_cost, with_cost
from bot.provider.dialect import error_body, prepare, read_images
from bot.provider.download import ResultDownloader
from bot.provider.failures import (
    TranslatedError,
    is_retryable,
    malformed,
    name_input,
    translate_error,
    translate_stream_error,
    translate_transport_error,
)
from bot.provider.profile import ProviderProfile
from bot.provider.profiles import load_profile
from bot.provider.timeouts import ReadTimeouts
from bot.provider.wire import (
    MalformedResponseError,
    SseEvent,
    build_result,
    decode_b64,
    iter_sse,
    stream_error,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=180.0, write=60.0, pool=30.0)
MAX_BACKOFF = 30.0
# httpx errors we translate; InvalidURL and StreamError are not HTTPError subclasses.
_HTTPX_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError)

PartialSink = Callable[[PartialImage], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FailedAttempt:
    """One API call that failed and was retried; the queue writes a ledger row for it."""

    status: int | None
    code: str | None
    request_id: str | None
    latency_ms: int
    error: UpstreamError


class _AttemptFailedError(Exception):
    """Carries a translated error and the attempt's latency out of one attempt."""

    def __init__(self, error: TranslatedError, latency_ms: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.latency_ms = latency_ms


def build_http_client(
    *,
    base_url: str,
    api_key: str,
    organization: str | None,
    project: str | None,
    timeout: httpx.Timeout | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    profile: ProviderProfile | None = None,
) -> httpx.AsyncClient:
    """The shared httpx client: the key sent as the profile says, its fixed query (Azure's
    api-version) on every call. httpx masks Authorization in reprs and never logs headers."""
    profile = profile or load_profile("openai", base_url)
    headers = {**profile.auth.headers(api_key), "User-Agent": "imagebot"}
    if organization:
        headers["OpenAI-Organization"] = organization
    if project:
        headers["OpenAI-Project"] = project
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/") + "/",
        headers=headers,
        params=dict(profile.urls.query),
        # Image calls set their own read timeout by the work (bot/provider/timeouts.py).
        timeout=timeout or DEFAULT_TIMEOUT,
        transport=transport,
    )


class OpenAIImagesClient:
    """Runs one ImageRequest against the API and returns the decoded result or a BotError."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        max_retries: int = 2,
        backoff_base: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        timeouts: ReadTimeouts | None = None,
        profile: ProviderProfile | None = None,
        downloader: ResultDownloader | None = None,
    ) -> None:
        self._http = http
        self._profile = profile or load_profile("openai", str(http.base_url))
        self._downloader = downloader
        self._timeouts = timeouts or ReadTimeouts()
        self._max_retries = max(0, max_retries)
        self._backoff_base = backoff_base
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = random.Random()  # noqa: S311 - jitter only, not security

    @property
    def profile(self) -> ProviderProfile:
        """The provider profile this client speaks (what the cogs offer and refuse follows it)."""
        return self._profile

    def __repr__(self) -> str:
        return f"OpenAIImagesClient(base_url={str(self._http.base_url)!r})"

    async def run(
        self,
        request: ImageRequest,
        *,
        on_partial: PartialSink | None = None,
        on_failed_attempt: Callable[[FailedAttempt], Awaitable[None]] | None = None,
    ) -> ImagesResult:
        """Send the request; retry only what the provider surely did no work on.

        Retried (bounded, with backoff): a request that never went out, and the provider's own
        JSON 500/503. Raised at once: 4xx, billing errors and refusals (not billed), and every
        call in doubt (AnswerLostError: read timeout, dropped connection, a gateway's page, an
        unreadable 2xx), which may already have been billed, so sending it again could pay
        twice. A 429 is raised at once too, so that the queue can pause all dispatch for its
        Retry-After. See bot/provider/failures.py for the whole table.
        """
        for attempt in range(self._max_retries + 1):
            try:
                return await self._attempt(request, on_partial)
            except _AttemptFailedError as failed:
                error = failed.error
                if attempt >= self._max_retries or not is_retryable(error):
                    raise error from None
                assert isinstance(error, UpstreamError)  # refusals are never retryable
                delay = self._backoff(attempt)
                log.warning(
                    "images API attempt %s failed (status=%s code=%s request_id=%s); "
                    "retrying in %.2f s",
                    attempt + 1,
                    error.status,
                    error.code,
                    error.request_id,
                    delay,
                )
                if on_failed_attempt is not None:
                    rid, latency = error.request_id, failed.latency_ms
                    await on_failed_attempt(
                        FailedAttempt(error.status, error.code, rid, latency, error)
                    )
                await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def list_models(self) -> list[str]:
        """Model ids from GET /models (for `python -m bot check --online`)."""
        try:
            response = await self._http.get(self._profile.urls.models or "models")
        except _HTTPX_ERRORS as exc:
            raise translate_transport_error(exc) from None
        request_id = response.headers.get("x-request-id")
        if response.status_code >= 300:
            raise translate_error(
                response.status_code,
                response.content,
                response.headers,
                model="",
                request_id=request_id,
            )
        try:
            data = json.loads(response.content)["data"]
            return [self._profile.models.catalog_name(str(item["id"])) for item in data]
        except (ValueError, KeyError, TypeError):
            raise malformed("models list", status=200, request_id=request_id) from None

    def _backoff(self, attempt: int) -> float:
        # Equal jitter: half the exponential step is fixed, half random, so clients spread out.
        step = min(MAX_BACKOFF, self._backoff_base * (2.0**attempt))
        return step / 2 + self._rng.uniform(0, step / 2)

    def _latency(self, started: float) -> int:
        return max(0, round((self._monotonic() - started) * 1000))

    async def _attempt(self, request: ImageRequest, on_partial: PartialSink | None) -> ImagesResult:
        started = self._monotonic()
        try:
            return await self._send(request, on_partial, started)
        except (UpstreamError, PromptRejectedError) as exc:
            raise _AttemptFailedError(exc, self._latency(started)) from None
        except _HTTPX_ERRORS as exc:
            waited = self._timeouts.read_seconds(request)
            error = translate_transport_error(exc, read_timeout=waited)
            raise _AttemptFailedError(error, self._latency(started)) from None

    async def _send(
        self, request: ImageRequest, on_partial: PartialSink | None, started: float
    ) -> ImagesResult:
        opts = request.options
        stream = opts.partial_images > 0 and on_partial is not None and opts.n == 1
        stream = stream and self._profile.features.streaming
        path, kwargs = prepare(self._profile, request, stream=stream)
        timeout = self._timeouts.for_request(request)
        async with self._http.stream("POST", path, timeout=timeout, **kwargs) as response:
            status, rid = response.status_code, response.headers.get("x-request-id")
            if status >= 300:
                body = error_body(self._profile, await response.aread())
                error = translate_error(
                    status, body, response.headers, model=opts.model, request_id=rid
                )
                raise name_input(error, [image.name for image in request.images])
            body = b""
            try:
                if response.headers.get("content-type", "").startswith("text/event-stream"):
                    return await self._read_stream(response, request, on_partial, rid, started)
                body = await response.aread()
                payload, images = await read_images(body, self._downloader)
            except MalformedResponseError as exc:
                reported = reported_cost(self._profile, body, response.headers) if body else None
                raise malformed(str(exc), status=status, request_id=rid,
                                reported=reported) from None  # fmt: skip
            latency = self._latency(started)
            result = build_result(
                payload, images, request, request_id=rid, latency_ms=latency, status=status
            )
            return with_cost(
                result, self._profile, model=opts.model, payload=payload, headers=response.headers
            )

    async def _read_stream(
        self,
        response: httpx.Response,
        request: ImageRequest,
        on_partial: PartialSink | None,
        request_id: str | None,
        started: float,
    ) -> ImagesResult:
        partials = 0
        async for event in iter_sse(response.aiter_lines()):
            if event is None:  # [DONE]
                break
            error = stream_error(event)
            if error is not None:
                raise translate_stream_error(
                    error,
                    partials=partials,
                    model=request.options.model,
                    request_id=request_id,
                )
            if event.event.endswith(".partial_image"):
                partials += 1
                await self._deliver_partial(event, partials, on_partial)
            elif event.event.endswith(".completed"):
                image = decode_b64(event.data.get("b64_json"), "completed event")
                return build_result(
                    event.data,
                    (image,),
                    request,
                    request_id=request_id,
                    latency_ms=self._latency(started),
                    status=response.status_code,
                    partials=partials,
                )
        raise MalformedResponseError("the stream ended before the final image")

    @staticmethod
    async def _deliver_partial(event: SseEvent, count: int, sink: PartialSink | None) -> None:
        index = event.data.get("partial_image_index")
        data = decode_b64(event.data.get("b64_json"), "partial image")
        if sink is None:
            return
        try:
            await sink(
                PartialImage(index=index if isinstance(index, int) else count - 1, data=data)
            )
        except Exception:
            # A failed preview must never cost the paid final image.
            log.warning("partial image sink failed", exc_info=True)
