"""JobService: the job queue's facade for the Discord layer (submit, cancel, look up, restart)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.catalog.models import Catalog
from bot.clock import Clock
from bot.db import Database
from bot.errors import (
    InvalidOptionError,
    JobNotCancellableError,
    JobNotFoundError,
    PermissionDeniedError,
)
from bot.jobs.admission import Admission
from bot.jobs.backend import BatchApi, ImageBackend
from bot.jobs.dispatcher import Dispatcher, wait_any
from bot.jobs.events import EventBus, JobEvent, JobSink
from bot.jobs.models import Admitted, Submission
from bot.jobs.pacing import Pacer
from bot.jobs.queue import JobQueue
from bot.jobs.relaxed import RelaxedLane, RelaxedTiming
from bot.jobs.resubmit import resubmission, stored_file
from bot.jobs.runner import JobRunner
from bot.jobs.settlement import Settlement
from bot.jobs.split import MAX_REQUEST_IMAGES
from bot.records import JobRecord, RelaxedJob, StoredFile
from bot.store import batches as batch_store, jobs as store
from bot.store.files import FileStore
from bot.store.guilds import GuildSettingsStore

log = logging.getLogger(__name__)

# Results that no message has shown yet are announced again at start-up when they finished this
# recently; older ones stay available through /job.
REDELIVERY_WINDOW = timedelta(days=3)
STOP_GRACE_SECONDS = 30.0  # how long a clean stop lets in-flight calls finish


class JobService:
    """Admission, the fair paced queue, settlement and restart recovery behind one object."""

    def __init__(
        self,
        *,
        db: Database,
        catalog: Catalog,
        backend: ImageBackend,
        files: FileStore,
        guilds: GuildSettingsStore,
        clock: Clock,
        ipm: int,
        tpm: int,
        default_model: str,
        sink: JobSink | None = None,
        max_in_flight: int = 4,
        member_queue_limit: int = 3,
        guild_queue_limit: int = 50,
        burst: int | None = None,
        max_rate_limit_retries: int = 5,
        max_request_images: int = MAX_REQUEST_IMAGES,  # most images per request of a generation
        batches: BatchApi | None = None,  # the relaxed speed's Batch API client
        relaxed_timing: RelaxedTiming | None = None,
    ) -> None:
        self._db = db
        self._files = files
        self._clock = clock
        self._max_in_flight = max_in_flight
        self._bus = EventBus(sink)
        self._pacer = Pacer(ipm=ipm, tpm=tpm, clock=clock, burst=burst)
        self._queue = JobQueue(self._bus)
        self._settlement = Settlement(db=db, catalog=catalog, clock=clock, bus=self._bus)
        self._runner = JobRunner(
            db=db,
            catalog=catalog,
            backend=backend,
            files=files,
            pacer=self._pacer,
            clock=clock,
            bus=self._bus,
            queue=self._queue,
            wake=self._wake,
            max_rate_limit_retries=max_rate_limit_retries,
            max_request_images=max_request_images,
        )
        self._admission = Admission(
            db=db,
            catalog=catalog,
            guilds=guilds,
            files=files,
            clock=clock,
            fits_ever=self._pacer.fits_ever,
            ipm=ipm,
            tpm=tpm,
            default_model=default_model,
            member_queue_limit=member_queue_limit,
            guild_queue_limit=guild_queue_limit,
        )
        self._relaxed: RelaxedLane | None = None
        if batches is not None:
            self._relaxed = RelaxedLane(db=db, catalog=catalog, files=files, clock=clock,
                                        bus=self._bus, client=batches,
                                        timing=relaxed_timing)  # fmt: skip
        self._dispatcher: Dispatcher | None = None
        self._task: asyncio.Task[None] | None = None
        self._admitting: set[asyncio.Task[Any]] = set()

    # ---- lifecycle --------------------------------------------------------------------------

    def set_sink(self, sink: JobSink) -> None:
        self._bus.set_sink(sink)

    @property
    def dispatcher_task(self) -> asyncio.Task[None] | None:
        """The running dispatch loop (for supervision; tests cancel it to simulate a crash)."""
        return self._task

    async def start(self) -> None:
        """Recover from the last run, then start dispatching.

        Running jobs are never sent again: those with stored images succeed with them, the
        others become unknown (they may have been billed: still charged, their members told);
        queued jobs resume in id order; results never shown (no mark_delivered) get their
        "succeeded" event again.
        """
        if self._task is not None and not self._task.done():
            return
        await self._recover()
        if self._relaxed is not None:
            await self._relaxed.start()
        self._dispatcher = Dispatcher(
            queue=self._queue,
            pacer=self._pacer,
            clock=self._clock,
            execute=self._runner.execute,
            max_in_flight=self._max_in_flight,
        )
        self._task = asyncio.get_running_loop().create_task(
            self._dispatcher.run(), name="job-dispatcher"
        )
        self._task.add_done_callback(_log_crash)

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop dispatching; in-flight calls get `grace` seconds, then are cancelled (unknown).

        Queued jobs keep their reservations and resume at the next start.
        """
        dispatcher, task = self._dispatcher, self._task
        self._dispatcher = self._task = None
        if self._relaxed is not None:
            await self._relaxed.stop()
        if dispatcher is not None and task is not None:
            dispatcher.close()
            if not await wait_any(self._clock, [task], grace):
                task.cancel()
            await asyncio.wait({task})
        if self._admitting:
            await asyncio.wait(set(self._admitting))
        await self._runner.settled()
        drain = asyncio.ensure_future(self._bus.drain())
        if not await wait_any(self._clock, [drain], grace):
            self._bus.cancel_pending()
        await asyncio.wait({drain})

    def _wake(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.wake()

    async def _recover(self) -> None:
        # Read before the interrupted jobs are settled: those announce their own ending.
        undelivered = await store.undelivered(self._db, self._clock.now() - REDELIVERY_WINDOW)
        batched = await batch_store.batched_job_ids(self._db)  # the relaxed lane resumes these
        for job in await store.jobs_in_state(self._db, "running"):
            if job.id in batched:
                continue
            log.warning("job %s was in flight when the bot stopped; not sending it again", job.id)
            await self._settlement.recover(job)
        queued = await store.jobs_in_state(self._db, "queued")
        self._queue.restore(job for job in queued if job.speed == "fast")
        for job in undelivered:
            self._bus.emit(JobEvent("succeeded", job))

    # ---- members' actions -------------------------------------------------------------------

    async def submit(self, s: Submission) -> Admitted:
        """Admit and queue a job, or raise the UserFacingError that says why not.

        Runs as its own task: once admitted, a job is queued even if the caller is cancelled.
        """
        task = asyncio.get_running_loop().create_task(self._submit(s))
        self._admitting.add(task)
        task.add_done_callback(_settle_admission(self._admitting))
        return await asyncio.shield(task)

    async def _submit(self, s: Submission) -> Admitted:
        job, cost = await self._admission.admit(s)
        if job.speed == "relaxed":
            if self._relaxed is None:  # a setup without a Batch API client (some tests)
                raise InvalidOptionError("speed", "the relaxed speed is not available")
            self._relaxed.add(job)
            self._bus.emit(JobEvent("queued", job))
            return Admitted(job, 0, cost)
        position = self._queue.push(job)
        self._bus.emit(JobEvent("queued", job, position=position))
        self._wake()
        return Admitted(job, position, cost)

    async def cancel(
        self, job_id: int, *, guild_id: int, user_id: int, is_moderator: bool
    ) -> JobRecord:
        """Cancel a queued job (a member their own, a moderator any); its reservation goes."""
        job = await self.get(job_id, guild_id=guild_id)
        if job.user_id != user_id and not is_moderator:
            raise PermissionDeniedError("cancel another member's job")
        lane = self._relaxed if job.speed == "relaxed" else None
        if lane is not None and (job.state != "queued" or not lane.gathering(job_id)):
            # Once in a batch it is the provider's: a batch's lines cannot be withdrawn.
            busy = job.state in ("queued", "running")
            raise JobNotCancellableError(job_id, "in a relaxed batch" if busy else job.state)
        if lane is None and (job.state != "queued" or job.id not in self._queue):
            raise JobNotCancellableError(job_id, "running" if job.state == "queued" else job.state)
        now = self._clock.now()
        async with self._db.transaction() as conn:
            ok = await store.finish(
                conn,
                job_id,
                state="cancelled",
                charged_micro_usd=0,
                charged_images=0,
                now=now,
                from_states=("queued",),
            )
        if not ok:  # it started meanwhile
            raise JobNotCancellableError(job_id, "running")
        if lane is not None:
            lane.remove(job_id)
        self._queue.remove(job_id)
        self._runner.forget(job_id)
        cancelled = replace(
            job, state="cancelled", charged_micro_usd=0, charged_images=0, finished_at=now
        )
        self._bus.emit(JobEvent("cancelled", cancelled))
        self._wake()
        return cancelled

    async def get(self, job_id: int, *, guild_id: int) -> JobRecord:
        job = await store.get_job(self._db.conn, job_id)
        if job is None or job.guild_id != guild_id:
            raise JobNotFoundError(job_id)
        return job

    async def result_files(self, job_id: int) -> list[StoredFile]:
        """A job's kept results, in order, with absolute paths."""
        rows = await store.files_of(self._db, job_id, "result")
        return [stored_file(self._files, row) for row in rows]

    async def queued_for(
        self, guild_id: int, user_id: int | None = None
    ) -> list[tuple[JobRecord, int]]:
        """A guild's (or one member's) queued jobs with their positions, next first."""
        return self._queue.ordered(guild_id, user_id)

    async def relaxed_for(self, guild_id: int, user_id: int | None = None) -> list[RelaxedJob]:
        """A guild's (or one member's) relaxed jobs not yet ended, with their batch's status."""
        if self._relaxed is None:
            return []
        return await self._relaxed.waiting(guild_id, user_id)

    def queue_length(self, guild_id: int) -> int:
        return self._queue.guild_length(guild_id)

    def position(self, job_id: int) -> int | None:
        return self._queue.position(job_id)

    async def mark_delivered(self, job_id: int, *, channel_id: int, message_id: int) -> None:
        """The sink posted this job's result in a message (so a restart does not post it again)."""
        async with self._db.transaction() as conn:
            await store.mark_delivered(conn, job_id, channel_id, message_id, self._clock.now())

    async def resubmission(
        self,
        job_id: int,
        *,
        guild_id: int,
        user_id: int,
        role_ids: tuple[int, ...],
        prompt: str | None = None,
        use_result_as_input: bool = False,
    ) -> Submission:
        """Re-roll (the same request and inputs) or Edit (a new prompt on the first result)."""
        job = await self.get(job_id, guild_id=guild_id)
        rows = await store.files_of(self._db, job_id)
        return await resubmission(
            job,
            [stored_file(self._files, row) for row in rows],
            self._files,
            user_id=user_id,
            role_ids=role_ids,
            prompt=prompt,
            use_result_as_input=use_result_as_input,
        )

    async def purge_expired(self, retention_days: int) -> int:
        """Delete kept files older than the retention period (never a queued job's inputs)."""
        rows = await store.expired_files(self._db, self._clock.now() - timedelta(retention_days))
        if not rows:
            return 0
        # Rows first: a crash in between leaves stray files, never rows pointing at nothing.
        async with self._db.transaction() as conn:
            await store.delete_file_rows(conn, rows)
        await self._files.delete(row.relpath for row in rows)
        return len(rows)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.critical("the job dispatcher stopped", exc_info=exc)


def _settle_admission(tasks: set[asyncio.Task[Any]]) -> Any:
    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a refusal whose caller went away is not an error

    return done
