"""What the queue needs from the Images API client (bot/openai_images.py implements it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from bot.domain import ImageRequest, ImagesResult, PartialImage
from bot.errors import UpstreamError
from bot.provider.batch_wire import BatchInfo


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


class BatchApi(Protocol):
    """The Files and Batches API as the relaxed lane uses it (bot/provider/batches.py).

    Each method raises a bot.errors UpstreamError when the provider refuses or cannot be reached.
    """

    async def upload(self, jsonl: bytes, filename: str) -> str: ...

    async def create(
        self, input_file_id: str, endpoint: str, metadata: Mapping[str, str]
    ) -> BatchInfo: ...

    async def retrieve(self, batch_id: str) -> BatchInfo: ...

    async def list_since(self, created_after: int) -> list[BatchInfo]: ...

    async def content(self, file_id: str) -> bytes: ...
