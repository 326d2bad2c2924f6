"""Settlement: turn a job's reservation into its real cost or release it, with its ledger rows."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.catalog import Catalog, ModelSpec
from bot.clock import Clock
from bot.db import Database
from bot.domain import ImagesResult, TokenUsage
from bot.errors import BotError, PromptRejectedError, UpstreamError
from bot.files import FileStore
from bot.jobs.backend import FailedAttemptLike
from bot.jobs.events import EventBus, JobEvent
from bot.jobs.models import JobRecord, JobState
from bot.pricing import cost_of
from bot.store import jobs as store
from bot.store.ledger import ApiCall, insert_api_call

log = logging.getLogger(__name__)

IN_DOUBT_MESSAGE = (
    "the bot lost track of this request while the image service was working on it; it may "
    "have been billed, so it was not sent again and its estimated cost stays counted"
)


def _status_and_code(error: BotError) -> tuple[int | None, str]:
    if isinstance(error, PromptRejectedError):
        return 400, "moderation_blocked"
    if isinstance(error, UpstreamError):
        return error.status, error.code or type(error).__name__
    return None, type(error).__name__


class Settlement:
    """Every way a job's reservation ends, each in one transaction with its ledger row."""

    def __init__(
        self, *, db: Database, catalog: Catalog, files: FileStore, clock: Clock, bus: EventBus
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._files = files
        self._clock = clock
        self._bus = bus

    async def success(self, job: JobRecord, spec: ModelSpec, result: ImagesResult) -> None:
        """Keep the images, then charge their real cost, in one transaction with their rows."""
        cost = cost_of(spec, result.usage)
        if cost > job.estimated_micro_usd:
            # Budgets hold only while estimates are upper bounds: worth an operator's look.
            log.warning(
                "job %s cost %s micro-USD, above its estimate of %s; check the catalog's prices",
                job.id,
                cost,
                job.estimated_micro_usd,
            )
        call = self._call(job, result=result, cost=cost)
        if not result.images:
            error = BotError("the image service answered without an image")
            await self._finish(job, "failed", cost, 0, error=error, call=call)
            return
        try:
            # Written before the commit: a committed job_files row always has its file.
            saved = await self._files.save_results(job.id, result.images, job.options.output_format)
        except OSError:
            log.exception("could not store the results of job %s", job.id)
            error = BotError("the images were made but could not be stored")
            await self._finish(job, "failed", cost, len(result.images), error=error, call=call)
            return
        now = self._clock.now()
        async with self._db.transaction() as conn:
            await insert_api_call(conn, call)
            await store.insert_files(conn, job.id, saved, now)
            ok = await store.finish(
                conn,
                job.id,
                state="succeeded",
                charged_micro_usd=cost,
                charged_images=len(result.images),
                now=now,
            )
        if not ok:
            log.error("job %s was no longer running when its result arrived", job.id)
            return
        done = replace(
            job,
            state="succeeded",
            charged_micro_usd=cost,
            charged_images=len(result.images),
            finished_at=now,
        )
        self._bus.emit(JobEvent("succeeded", done))

    async def failure(self, job: JobRecord, error: BotError, *, sent: bool) -> None:
        """Release the reservation; a call that may have been billed keeps it (unknown)."""
        if sent and isinstance(error, UpstreamError) and error.maybe_billed:
            await self.in_doubt(job, code=error.code or "maybe_billed", error=error)
            return
        status, code = _status_and_code(error)
        call = self._call(job, http_status=status, error_code=code, error=error) if sent else None
        await self._finish(job, "failed", 0, 0, error=error, call=call)

    async def crash(self, job: JobRecord, exc: Exception, *, sent: bool) -> None:
        error = BotError("an internal error stopped this job")
        error.__cause__ = exc
        if sent:
            await self.in_doubt(job, code="internal_error", error=error)
        else:
            await self._finish(job, "failed", 0, 0, error=error, call=None)

    async def in_doubt(self, job: JobRecord, *, code: str, error: BotError | None) -> None:
        """The call went out and its answer is lost: unknown, the reservation stays charged.

        Its ledger row carries the reservation too, so the ledger's spend never understates
        what the budgets count.
        """
        status = error.status if isinstance(error, UpstreamError) else None
        call = self._call(
            job, cost=job.charged_micro_usd, http_status=status, error_code=code, error=error
        )
        await self._finish(
            job,
            "unknown",
            job.charged_micro_usd,
            job.charged_images,
            error=error,
            call=call,
            code=code,
            message=IN_DOUBT_MESSAGE,
        )

    async def attempt(self, job: JobRecord, attempt: FailedAttemptLike) -> None:
        """A failed call that the client retried: its own ledger row, at no cost."""
        call = self._call(
            job,
            http_status=attempt.status,
            error_code=attempt.code or type(attempt.error).__name__,
            request_id=attempt.request_id,
            latency_ms=attempt.latency_ms,
        )
        async with self._db.transaction() as conn:
            await insert_api_call(conn, call)

    async def rate_limited(self, job: JobRecord, error: UpstreamError) -> bool:
        """A 429: its ledger row, and the job back to queued with its reservation."""
        call = self._call(job, http_status=error.status or 429, error_code=error.code, error=error)
        async with self._db.transaction() as conn:
            await insert_api_call(conn, call)
            return await store.requeue(conn, job.id)

    async def requeue(self, job: JobRecord) -> bool:
        """Not sent after all (shutdown before the call): queued again, nothing charged."""
        async with self._db.transaction() as conn:
            return await store.requeue(conn, job.id)

    async def _finish(
        self,
        job: JobRecord,
        state: JobState,
        charged_micro_usd: int,
        charged_images: int,
        *,
        error: BotError | None,
        call: ApiCall | None,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        if error is not None and code is None:
            code = _status_and_code(error)[1]
        if message is None and error is not None:
            message = str(error)
        now = self._clock.now()
        async with self._db.transaction() as conn:
            if call is not None:
                await insert_api_call(conn, call)
            ok = await store.finish(
                conn,
                job.id,
                state=state,
                charged_micro_usd=charged_micro_usd,
                charged_images=charged_images,
                now=now,
                error_code=code,
                error_message=message,
            )
        if not ok:
            log.error("job %s was no longer running when it ended as %s", job.id, state)
            return
        done = replace(
            job,
            state=state,
            charged_micro_usd=charged_micro_usd,
            charged_images=charged_images,
            finished_at=now,
            error_code=code,
            error_message=message,
        )
        self._bus.emit(JobEvent("unknown" if state == "unknown" else "failed", done, error=error))

    def _call(
        self,
        job: JobRecord,
        *,
        result: ImagesResult | None = None,
        cost: int = 0,
        http_status: int | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
        latency_ms: int = 0,
        error: BotError | None = None,
    ) -> ApiCall:
        opts = job.options
        if isinstance(error, UpstreamError | PromptRejectedError):
            request_id = request_id or error.request_id
        return ApiCall(
            guild_id=job.guild_id,
            channel_id=job.channel_id,
            user_id=job.user_id,
            job_id=job.id,
            model=opts.model,
            operation=job.operation,
            n=opts.n,
            size=result.size if result else opts.size,
            quality=result.quality if result else opts.quality,
            usage=result.usage if result else TokenUsage(),
            cost_micro_usd=cost,
            price_version=self._catalog.version,
            latency_ms=result.latency_ms if result else latency_ms,
            created_at=self._clock.now(),
            images=len(result.images) if result else 0,
            partial_images=result.partial_images if result else 0,
            request_id=result.request_id if result else request_id,
            http_status=result.http_status if result else http_status,
            error_code=error_code,
        )
