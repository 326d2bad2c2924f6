"""Runs one job: marks it running, sends its requests as the pacer allows, settles every outcome."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any, TypeVar

from bot.catalog.models import Catalog
from bot.clock import Clock
from bot.db import Database
from bot.domain import ImagesResult, PartialImage
from bot.errors import (
    BotError,
    InvalidOptionError,
    RateLimitedError,
    UpstreamError,
    UserFacingError,
)
from bot.jobs.backend import FailedAttemptLike, ImageBackend
from bot.jobs.events import EventBus, JobEvent
from bot.jobs.order.dispatcher import wait_any
from bot.jobs.order.pacing import Pacer
from bot.jobs.order.policy import TooLarge, Wait, next_request, pending
from bot.jobs.order.queue import JobQueue
from bot.jobs.owners import LoneProcess, Owners
from bot.jobs.run.prepare import prepare
from bot.jobs.settle.calls import CallSettlement
from bot.jobs.settle.settlement import Settlement
from bot.jobs.split import MAX_REQUEST_IMAGES, Chunk, JobRun, share
from bot.records import JobRecord
from bot.store import jobs as store
from bot.store.files import FileStore

# Over 300 lines for a reason: one job's life from running to settled is one object's state (its
# run, pacer holds, the 429 back-off, abandonment); settlement, pacing and request policy live
# in bot/jobs/settle/ and bot/jobs/order/.
log = logging.getLogger(__name__)
T = TypeVar("T")

RATE_LIMIT_BACKOFF_BASE = 2.0  # seconds, doubled per 429 of the same job when no Retry-After
RATE_LIMIT_BACKOFF_MAX = 60.0  # IPM windows are one minute: waiting longer never helps
TOO_LARGE = "this request is larger than the account's per-minute limits"


class _HeldError(Exception):
    """The lease was lost before this job sent anything: it goes back to the queue."""


class JobRunner:
    """Executes jobs the dispatcher hands over; no path leaves a reservation behind.

    A generation goes out in requests of as many images as the pacer lets through at once (at
    most `max_request_images`), back to back, each paced on its own; an edit goes whole. The
    requests of one job run concurrently and the job ends once all have. Settlement writes run
    as their own tasks (see `_protect`), so cancelling a job's task (shutdown) cannot interrupt
    a transaction halfway; `settled()` waits for them.
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
        settlement: Settlement,
        calls: CallSettlement,
        wake: Callable[[], None],
        max_rate_limit_retries: int,
        max_request_images: int = MAX_REQUEST_IMAGES,
        owners: Owners | None = None,
    ) -> None:
        if max_request_images < 1:
            raise ValueError("max_request_images must be at least 1")
        self._db = db
        self._catalog = catalog
        self._backend = backend
        self._files = files
        self._pacer = pacer
        self._sending = asyncio.Lock()
        self._clock = clock
        self._bus = bus
        self._queue = queue
        self._wake = wake
        self._max_429 = max_rate_limit_retries
        self._cap = max_request_images
        self._rate_limited: dict[int, int] = {}  # job id -> 429s so far
        self._settling: set[asyncio.Task[Any]] = set()
        self._settle = settlement
        self._calls = calls
        self._owners = owners or LoneProcess()
        self._holding = False  # the lease was lost: in-flight calls settle, nothing more goes

    def hold(self, holding: bool) -> None:
        """While holding, no request goes out: a job not yet sent goes back to the queue and a
        split job's unsent images are released; the calls in flight settle as usual."""
        self._holding = holding

    def forget(self, job_id: int) -> None:
        self._rate_limited.pop(job_id, None)

    async def settled(self) -> None:
        """Wait for every settlement write started so far."""
        while self._settling:
            await asyncio.wait(set(self._settling))

    async def execute(self, job: JobRecord, started: asyncio.Event) -> None:
        """Run one popped job to a final state (or back into the queue after a 429)."""
        run: JobRun | None = None
        if self._holding:
            started.set()
            return  # still queued in the database: the dispatcher now running takes it
        try:
            running = await self._protect(self._mark_running(job))
            if running is None:
                return  # cancelled by its member between the pop and now
            job = running
            spec, request = await prepare(job, self._catalog, self._db, self._files)
            run = JobRun(job, spec, request)
            requeued = await self._send_all(run, started)
        except asyncio.CancelledError:
            await self._protect(self._abandon(job, run, "interrupted", None))
            raise
        except _HeldError:
            await self._protect(self._abandon(job, run, "interrupted", None))
            return
        except (UpstreamError, UserFacingError) as exc:  # raised before any request went out
            await self._protect(self._settle.not_sent(job, exc))
            return
        except Exception as exc:
            # A bug or a broken disk. Settle anyway: a job stuck "running" would hold its
            # reservation until the next restart.
            log.exception("job %s failed unexpectedly", job.id)
            await self._protect(self._abandon(job, run, "internal_error", exc))
            return
        finally:
            started.set()  # the dispatcher never waits for a job that will not start
            if job.id not in self._queue:  # a 429 puts it back and keeps its count
                self.forget(job.id)
        if not requeued:
            assert run is not None
            await self._protect(self._settle.end(run))

    async def _protect(self, coro: Coroutine[Any, Any, T], run: JobRun | None = None) -> T:
        """Run a settlement step to completion even if the caller is cancelled meanwhile."""
        task = asyncio.get_running_loop().create_task(coro)
        for tasks in (self._settling, run.settling) if run else (self._settling,):
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return await asyncio.shield(task)

    async def _mark_running(self, job: JobRecord) -> JobRecord | None:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            ok = await store.mark_running(conn, job.id, now, self._owners.process_id)
        return replace(job, state="running", started_at=now) if ok else None

    # ---- the requests of one job ----------------------------------------------------------

    async def _send_all(self, run: JobRun, started: asyncio.Event) -> bool:
        """Send the job's requests as the pacer allows until all have ended; True if requeued.

        The dispatcher looks at the next job only once this one has sent all its images, so the
        requests of one job go back to back; those a 429 bounced go again without it.
        """
        while run.free or run.calls:
            delay = await self._send_ready(run, started) if run.free else None
            if delay is None and not run.calls:
                break  # stopped with nothing in flight
            if delay is None:
                await asyncio.wait(set(run.calls), return_when=asyncio.FIRST_COMPLETED)
            else:
                await wait_any(self._clock, list(run.calls), delay)
            for task in [task for task in run.calls if task.done()]:
                if await self._outcome(run, task):
                    return True
        return False

    async def _send_ready(self, run: JobRun, started: asyncio.Event) -> float | None:
        """Send every request `policy.next_request` lets through now; then seconds until the
        next may go (None: nothing is left to send)."""
        while run.free:
            if self._holding:  # another process dispatches now
                if run.untouched:
                    raise _HeldError  # nothing out: back to the queue (_abandon)
                run.stop(None, None)
                break
            # One job at a time decides, writes and records: the write is awaited between them.
            async with self._sending:
                job = pending(run.job.estimated_tokens, run.images, run.free, run.splittable)
                decision = next_request(job, self._pacer.room(), self._cap)
                if isinstance(decision, Wait):
                    return decision.seconds
                if isinstance(decision, TooLarge):  # the limits were lowered since admission
                    if not run.sent:
                        raise InvalidOptionError("count", TOO_LARGE)
                    run.stop(InvalidOptionError("count", TOO_LARGE), None)
                    break
                chunk = run.take(decision.images)
                await self._mark_unsent(run)  # before it goes out; time only moves on meanwhile
                self._pacer.record(chunk.images, chunk.tokens)
            task = asyncio.get_running_loop().create_task(
                self._request(run, chunk), name=f"job-{run.job.id}-call-{run.sent}"
            )
            run.calls[task] = chunk
            if run.sent == 1:
                self._bus.emit(JobEvent("started", run.job))
        started.set()
        return None

    async def _mark_unsent(self, run: JobRun) -> None:
        """Committed before a request goes out: after a crash, the slots still free were never
        sent and are not charged in doubt (Settlement.recover)."""
        free = run.free
        async with self._db.transaction() as conn:
            await store.set_unsent(
                conn, run.job.id, len(free), share(run.job.estimated_micro_usd, run.images, free)
            )

    async def _request(self, run: JobRun, chunk: Chunk) -> ImagesResult:
        options = replace(run.request.options, n=chunk.images)
        return await self._backend.run(
            replace(run.request, options=options),
            on_partial=lambda partial: self._on_partial(run.job, partial),
            on_failed_attempt=lambda attempt: self._on_failed_attempt(run, chunk, attempt),
        )

    async def _outcome(self, run: JobRun, task: asyncio.Task[ImagesResult]) -> bool:
        """Settle one ended request; True when the whole job went back to the queue."""
        chunk = run.calls.pop(task)
        try:
            return await self._settle_call(run, chunk, task)
        except Exception:
            run.doubt(chunk)  # its settlement broke: it may have been billed
            raise

    async def _settle_call(
        self, run: JobRun, chunk: Chunk, task: asyncio.Task[ImagesResult]
    ) -> bool:
        if task.cancelled():
            await self._protect(self._calls.in_doubt(run, chunk, "interrupted", None), run)
            return False
        exc = task.exception()
        if exc is None:
            await self._protect(self._calls.answered(run, chunk, task.result()), run)
        elif isinstance(exc, RateLimitedError):
            return await self._protect(self._on_rate_limited(run, chunk, exc), run)
        elif isinstance(exc, UpstreamError) and exc.maybe_billed:
            code = exc.code or "maybe_billed"
            await self._protect(self._calls.in_doubt(run, chunk, code, exc), run)
        elif isinstance(exc, UpstreamError | UserFacingError):
            await self._protect(self._calls.refused(run, chunk, exc), run)
        else:
            log.error("a call of job %s failed unexpectedly", run.job.id, exc_info=exc)
            error = BotError("an internal error stopped this job")
            error.__cause__ = exc
            await self._protect(self._calls.in_doubt(run, chunk, "internal_error", error), run)
        return False

    async def _on_partial(self, job: JobRecord, partial: PartialImage) -> None:
        self._bus.emit(JobEvent("partial", job, partial=partial))

    async def _on_failed_attempt(
        self, run: JobRun, chunk: Chunk, attempt: FailedAttemptLike
    ) -> None:
        await self._protect(self._calls.attempt(run.job, chunk, attempt), run)

    async def _on_rate_limited(self, run: JobRun, chunk: Chunk, exc: RateLimitedError) -> bool:
        """Pause all dispatch; the images go again (the whole job, if nothing else of it is out
        or kept), unless the job had too many 429s. True when the job went back to the queue."""
        job = run.job
        count = self._rate_limited.get(job.id, 0) + 1
        self._rate_limited[job.id] = count
        backoff = min(RATE_LIMIT_BACKOFF_MAX, RATE_LIMIT_BACKOFF_BASE * 2 ** (count - 1))
        pause = exc.retry_after if exc.retry_after is not None else backoff
        self._pacer.pause(max(0.0, pause))
        log.warning("429 for job %s (%s so far); pausing dispatch %.1f s", job.id, count, pause)
        if count > self._max_429:
            await self._calls.refused(run, chunk, exc)
            return False
        if run.untouched:
            run.stop(None, None)
            call = self._calls.rate_limited_call(job, chunk, exc)
            if await self._calls.requeue(job, call):
                self._queue.push_front(replace(job, state="queued", started_at=None))
            self._wake()
            return True
        await self._calls.rate_limited(job, chunk, exc)
        if not run.stopping:  # a job that is ending sends nothing more
            run.give_back(chunk)
        self._wake()
        return False

    async def _abandon(
        self, job: JobRecord, run: JobRun | None, code: str, exc: Exception | None
    ) -> None:
        """The job's task was cancelled (shutdown) or broke: settle what it sent; a job of which
        nothing is out, kept or in doubt goes back to the queue (or is released if it broke)."""
        error = None
        if exc is not None:
            error = BotError("an internal error stopped this job")
            error.__cause__ = exc
        if run is None or run.untouched:
            if error is not None:
                await self._settle.not_sent(job, error)
            elif await self._calls.requeue(job):
                self._queue.push_front(replace(job, state="queued", started_at=None))
            return
        run.stop(error, code)
        for task in run.calls:
            task.cancel()  # its answer will never be read: it may have been billed
        if run.calls:
            await asyncio.wait(set(run.calls))
        for task in list(run.calls):
            if await self._outcome(run, task):
                return
        while run.settling:
            await asyncio.wait(set(run.settling))
        await self._settle.end(run)
