"""What the queue needs from the Images API client (bot/openai_images.py implements it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.domain import ImageRequest, ImagesResult, PartialImage
from bot.errors import UpstreamError


class FailedAttemptLike(Protocol):
    """One call that failed and that the client retried itself (500, 503, connect errors)."""

    @property
    def status(self) -> int | None: ...

    @property
    def code(self) -> str | None: ...

    @property
    def request_id(self) -> str | None: ...

    @property
    def latency_ms(self) -> int: ...

    @property
    def error(self) -> UpstreamError: ...


class ImageBackend(Protocol):
    """Runs one request: returns the result or raises a bot.errors error.

    429 is raised at once as RateLimitedError (the queue pauses all dispatch); retried attempts
    are reported through `on_failed_attempt` so that each gets its ledger row.
    """

    async def run(
        self,
        request: ImageRequest,
        *,
        on_partial: Callable[[PartialImage], Awaitable[None]] | None = None,
        on_failed_attempt: Callable[[FailedAttemptLike], Awaitable[None]] | None = None,
    ) -> ImagesResult: ...
