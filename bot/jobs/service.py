"""JobService: what members do with jobs (submit, cancel, look up, resubmit), for the cogs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bot.catalog.pricing import CostEstimate
from bot.clock import Clock
from bot.db import Database
from bot.errors import (
    InvalidOptionError,
    JobNotCancellableError,
    JobNotFoundError,
    PermissionDeniedError,
)
from bot.jobs.admit.admission import Admission
from bot.jobs.admit.resubmit import resubmission
from bot.jobs.events import EventBus, JobEvent
from bot.jobs.models import Admitted, Submission
from bot.jobs.order.queue import JobQueue
from bot.jobs.relaxed.lane import RelaxedLane
from bot.jobs.run.runner import JobRunner
from bot.jobs.settle.ending import Endings
from bot.jobs.settle.kept import kept_files
from bot.records import JobRecord, RelaxedJob, StoredFile
from bot.store import jobs as store
from bot.store.files import FileStore


class JobService:
    """What members do with jobs: submit, cancel, look up, resubmit (start, stop, recovery and
    retention are QueueLifecycle's and Retention's; bot/jobs/wiring.py builds them all)."""

    def __init__(
        self,
        *,
        db: Database,
        files: FileStore,
        clock: Clock,
        bus: EventBus,
        queue: JobQueue,
        admission: Admission,
        runner: JobRunner,
        endings: Endings,
        wake: Callable[[], None],
        relaxed: RelaxedLane | None = None,  # the relaxed speed's lane (None: not offered)
    ) -> None:
        self._db = db
        self._files = files
        self._clock = clock
        self._bus = bus
        self._queue = queue
        self._admission = admission
        self._runner = runner
        self._endings = endings
        self._wake = wake
        self._relaxed = relaxed
        self._admitting: set[asyncio.Task[Any]] = set()
        # Another process dispatches (bot/cluster/): its relaxed lane gathers every process's
        # relaxed jobs from the database, so this one's lane holds none.
        self._following = False

    def follow(self, following: bool) -> None:
        """Whether another process dispatches (relaxed jobs are then gathered there)."""
        self._following = following

    async def admissions_done(self) -> None:
        """Wait for the admissions in progress (a clean stop lets them queue their jobs)."""
        while self._admitting:
            await asyncio.wait(set(self._admitting))

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
        reserved = await self._admission.admit(s)
        job, cost = reserved.job, reserved.estimate
        # Queued before any other await: in cluster mode the dispatcher's mirror could otherwise
        # find, queue and start the job first (bot/cluster/sync.py).
        if job.speed == "relaxed":
            admitted = replace(self._gather(job, cost), unseen=reserved.unseen)
        else:
            position = self._queue.push(job)
            self._bus.emit(JobEvent("queued", job, position=position))
            self._wake()
            admitted = Admitted(job, position, cost, unseen=reserved.unseen)
        notice = await self._admission.replaced_default_notice(s.guild_id)
        return replace(admitted, notice=notice)

    def _gather(self, job: JobRecord, cost: CostEstimate) -> Admitted:
        """A relaxed job waits for its batch in the relaxed lane, not in the paced queue."""
        if self._relaxed is None:  # validation lets no relaxed job through without a lane
            raise InvalidOptionError("speed", "the relaxed speed is not available")
        if not self._following:  # adopt: the dispatcher's mirror may have gathered it first
            self._relaxed.adopt([job])
        self._bus.emit(JobEvent("queued", job))
        return Admitted(job, 0, cost)

    async def cancel(
        self, job_id: int, *, guild_id: int, user_id: int, is_moderator: bool
    ) -> JobRecord:
        """Cancel a queued job (a member their own, a moderator any); its reservation goes."""
        job = await self.get(job_id, guild_id=guild_id)
        if job.user_id != user_id and not is_moderator:
            raise PermissionDeniedError("cancel another member's job")
        lane = self._relaxed if job.speed == "relaxed" else None
        # A follower's lane gathers nothing: a queued relaxed job is in no batch yet (the
        # conditional ending below refuses it if the dispatcher takes it meanwhile).
        gathering = lane is not None and (self._following or lane.gathering(job_id))
        if lane is not None and (job.state != "queued" or not gathering):
            # Once in a batch it is the provider's: a batch's lines cannot be withdrawn.
            busy = job.state in ("queued", "running")
            raise JobNotCancellableError(job_id, "in a relaxed batch" if busy else job.state)
        if lane is None and (job.state != "queued" or job.id not in self._queue):
            raise JobNotCancellableError(job_id, "running" if job.state == "queued" else job.state)
        cancelled = await self._endings.finish(job, "cancelled", (0, 0), "actual",
                                               expected=("queued",))  # fmt: skip
        if cancelled is None:  # it started meanwhile
            raise JobNotCancellableError(job_id, "running")
        if lane is not None:
            lane.remove(job_id)
        self._queue.remove(job_id)
        self._runner.forget(job_id)
        self._wake()
        return cancelled

    async def get(self, job_id: int, *, guild_id: int) -> JobRecord:
        job = await store.get_job(self._db, job_id)
        if job is None or job.guild_id != guild_id:
            raise JobNotFoundError(job_id)
        return job

    async def result_files(self, job_id: int) -> list[StoredFile]:
        """A job's kept results, in order, with their bytes."""
        return list(await kept_files(self._db, self._files, job_id, "result"))

    async def check_room(self, guild_id: int, user_id: int) -> None:
        """Refuse now (QueueFullError) when a new job could not be queued, before its files are
        downloaded."""
        await self._admission.check_room(guild_id, user_id)

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

    async def mark_told(self, job_id: int) -> None:
        """The sink showed this job's ending (failed, unknown, cancelled): not sent again at the
        next start-up."""
        async with self._db.transaction() as conn:
            await store.mark_told(conn, job_id, self._clock.now())

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
        return await resubmission(
            job,
            await kept_files(self._db, self._files, job_id),
            user_id=user_id,
            role_ids=role_ids,
            prompt=prompt,
            use_result_as_input=use_result_as_input,
        )


def _settle_admission(tasks: set[asyncio.Task[Any]]) -> Any:
    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a refusal whose caller went away is not an error

    return done
