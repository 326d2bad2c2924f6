"""Watches every request to the provider: latency, 429s, and whether it answered lately."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import httpx

from bot.ops.metrics import Metrics

# Path shapes of the endpoints the bot calls, so labels stay bounded (ids never become labels).
_ENDPOINTS = (
    "images/generations",
    "images/edits",
    "moderations",
    "models",
    "batches",
    "files",
    "organization/usage",
    "organization/costs",
)
_TAIL = re.compile(r"/v\d+/(.*)$")


def endpoint_of(url: httpx.URL) -> str:
    """The endpoint's bounded name: "images/edits", "batches", ...; "other" if unknown."""
    match = _TAIL.search(url.path)
    path = match.group(1) if match else url.path.lstrip("/")
    return next((e for e in _ENDPOINTS if path == e or path.startswith(e + "/")), "other")


@dataclass(slots=True)
class ProviderWatch:
    """When the provider last answered (any HTTP status) and last failed to (monotonic s)."""

    last_answer: float | None = None
    last_failure: float | None = None

    def reachable(self) -> bool | None:
        """True if its latest request got an answer, False if it got none, None: no request yet."""
        if self.last_failure is None:
            return None if self.last_answer is None else True
        return self.last_answer is not None and self.last_answer > self.last_failure


class WatchedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that records each request's outcome, then hands it on unchanged."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, watch: ProviderWatch, metrics: Metrics
    ) -> None:
        self._inner = inner
        self._watch = watch
        self._metrics = metrics

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        endpoint = endpoint_of(request.url)
        start = time.monotonic()
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TransportError:
            self._watch.last_failure = time.monotonic()
            self._metrics.transport_errors.labels(endpoint).inc()
            raise
        now = time.monotonic()
        self._watch.last_answer = now
        self._metrics.api_latency.labels(endpoint).observe(now - start)
        if response.status_code == 429:
            self._metrics.rate_limited.labels(endpoint).inc()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
