"""Runs one job: marks it running, waits for the pacer, calls the API, and settles every outcome."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any, TypeVar

from bot.catalog import Catalog, ModelSpec
from bot.clock import Clock
from bot.db import Database
from bot.domain import ImageRequest, InputImage, PartialImage
from bot.errors import (
    InvalidImageError,
    InvalidOptionError,
    RateLimitedError,
    UpstreamError,
    UserFacingError,
)
from bot.files import FileStore
from bot.jobs.backend import FailedAttemptLike, ImageBackend
from bot.jobs.events import EventBus, JobEvent
from bot.jobs.models import JobRecord
from bot.jobs.pacing import Pacer
from bot.jobs.queue import JobQueue
from bot.jobs.settlement import Settlement
from bot.store import jobs as store

log = logging.getLogger(__name__)
T = TypeVar("T")

RATE_LIMIT_BACKOFF_BASE = 2.0  # seconds, doubled per 429 of the same job when no Retry-After
RATE_LIMIT_BACKOFF_MAX = 60.0  # IPM windows are one minute: waiting longer never helps


def end_user(user_id: int) -> str:
    """The member id, hashed, for OpenAI's abuse monitoring: the API never sees Discord ids."""
    return hashlib.sha256(f"discord-user:{user_id}".encode()).hexdigest()[:32]


class JobRunner:
    """Executes jobs the dispatcher hands over; no path leaves a reservation behind.

    Settlement writes run as their own tasks (see `_protect`), so cancelling a job's task
    (shutdown) cannot interrupt a transaction halfway; `settled()` waits for them.
    """

    def __init__(
        self,
        *,
        db: Database,
        catalog: Catalog,
        backend: ImageBackend,
        files: FileStore,
        pacer: Pacer,
        clock: Clock,
        bus: EventBus,
        queue: JobQueue,
        wake: Callable[[], None],
        max_rate_limit_retries: int,
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._backend = backend
        self._files = files
        self._pacer = pacer
        self._clock = clock
        self._bus = bus
        self._queue = queue
        self._wake = wake
        self._max_429 = max_rate_limit_retries
        self._rate_limited: dict[int, int] = {}  # job id -> 429s so far
        self._settling: set[asyncio.Task[Any]] = set()
        self._settle = Settlement(db=db, catalog=catalog, files=files, clock=clock, bus=bus)

    def set_wake(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def forget(self, job_id: int) -> None:
        self._rate_limited.pop(job_id, None)

    async def settled(self) -> None:
        """Wait for every settlement write started so far."""
        while self._settling:
            await asyncio.wait(set(self._settling))

    async def execute(self, job: JobRecord, started: asyncio.Event) -> None:
        """Run one popped job to a final state (or back into the queue after a 429)."""
        sent = False
        try:
            running = await self._protect(self._mark_running(job))
            if running is None:
                return  # cancelled by its member between the pop and now
            job = running
            spec, request = await self._prepare(job)
            await self._wait_for_pacer(job)
            self._pacer.record(job.n, job.estimated_tokens)
            started.set()
            self._bus.emit(JobEvent("started", job))
            sent = True
            result = await self._backend.run(
                request,
                on_partial=lambda partial: self._on_partial(job, partial),
                on_failed_attempt=lambda attempt: self._on_failed_attempt(job, attempt),
            )
        except asyncio.CancelledError:
            await self._protect(self._interrupted(job, sent))
            raise
        except RateLimitedError as exc:
            await self._protect(self._on_rate_limited(job, exc))
            return
        except (UpstreamError, UserFacingError) as exc:
            await self._protect(self._settle.failure(job, exc, sent=sent))
            return
        except Exception as exc:
            # A bug or a broken disk. Settle anyway: a job stuck "running" would hold its
            # reservation until the next restart.
            log.exception("job %s failed unexpectedly", job.id)
            await self._protect(self._settle.crash(job, exc, sent=sent))
            return
        finally:
            started.set()  # the dispatcher never waits for a job that will not start
            if job.id not in self._queue:  # a 429 puts it back and keeps its count
                self.forget(job.id)
        await self._protect(self._settle.success(job, spec, result))

    async def _protect(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a settlement step to completion even if the caller is cancelled meanwhile."""
        task = asyncio.get_running_loop().create_task(coro)
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)
        return await asyncio.shield(task)

    async def _mark_running(self, job: JobRecord) -> JobRecord | None:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            ok = await store.mark_running(conn, job.id, now)
        return replace(job, state="running", started_at=now) if ok else None

    async def _prepare(self, job: JobRecord) -> tuple[ModelSpec, ImageRequest]:
        spec = self._catalog.get(job.model)  # ModelNotAllowedError if the catalog dropped it
        images: list[InputImage] = []
        mask: InputImage | None = None
        for row in await store.files_of(self._db, job.id):
            if row.role == "result":
                continue
            try:
                data = await self._files.read(row.relpath)
            except OSError:
                raise InvalidImageError(
                    f"image {row.index + 1}", "the uploaded image is no longer stored"
                ) from None
            image = InputImage(data, row.mime, row.width, row.height)
            if row.role == "mask":
                mask = image
            else:
                images.append(image)
        request = ImageRequest(
            operation=job.operation,
            prompt=job.prompt,
            options=job.options,
            images=tuple(images),
            mask=mask,
            end_user=end_user(job.user_id),
        )
        return spec, request

    async def _wait_for_pacer(self, job: JobRecord) -> None:
        # The dispatcher checked before popping; a 429 elsewhere may have paused dispatch since.
        while (delay := self._pacer.delay_for(job.n, job.estimated_tokens)) > 0:
            if math.isinf(delay):
                raise InvalidOptionError(
                    "count", "this request is larger than the account's per-minute limits"
                )
            await self._clock.sleep(delay)

    async def _on_partial(self, job: JobRecord, partial: PartialImage) -> None:
        self._bus.emit(JobEvent("partial", job, partial=partial))

    async def _on_failed_attempt(self, job: JobRecord, attempt: FailedAttemptLike) -> None:
        await self._protect(self._settle.attempt(job, attempt))

    async def _on_rate_limited(self, job: JobRecord, exc: RateLimitedError) -> None:
        count = self._rate_limited.get(job.id, 0) + 1
        self._rate_limited[job.id] = count
        backoff = min(RATE_LIMIT_BACKOFF_MAX, RATE_LIMIT_BACKOFF_BASE * 2 ** (count - 1))
        pause = exc.retry_after if exc.retry_after is not None else backoff
        self._pacer.pause(max(0.0, pause))
        log.warning("429 for job %s (%s so far); pausing dispatch %.1f s", job.id, count, pause)
        if count > self._max_429:
            await self._settle.failure(job, exc, sent=True)
            return
        if await self._settle.rate_limited(job, exc):
            self._queue.push_front(replace(job, state="queued", started_at=None))
        self._wake()

    async def _interrupted(self, job: JobRecord, sent: bool) -> None:
        """The job's task was cancelled (shutdown): back to the queue, or unknown if sent."""
        if sent:
            await self._settle.in_doubt(job, code="interrupted", error=None)
        elif await self._settle.requeue(job):
            self._queue.push_front(replace(job, state="queued", started_at=None))
