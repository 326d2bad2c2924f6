"""The relaxed lane: relaxed jobs gathered per model and endpoint into Batch API batches, the
batches followed with backoff until they end, and each job settled from its line.

One loop on the injected clock does three things when they fall due: it closes a group of
waiting jobs into a batch (after a short gathering window, or at once when the group reaches
the size cap), takes a new batch through upload and create (bot/jobs/relaxed_submit.py), and
polls a submitted batch (first after `first_poll` seconds, then each wait `poll_factor` times
longer up to `max_poll`). Each step runs as its own task; the database records every step, so
a stop or a crash at any point resumes at the next start (`start` reads what is open).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass, replace
from typing import Any

from bot.catalog.models import Catalog
from bot.clock import Clock
from bot.db import Database
from bot.errors import AuthenticationError, BillingLimitError, InvalidRequestError, UpstreamError
from bot.jobs.backend import BatchApi
from bot.jobs.dispatcher import wait_any
from bot.jobs.events import EventBus, JobEvent
from bot.jobs.relaxed_settle import RelaxedSettlement, line_request
from bot.jobs.relaxed_submit import BatchSubmitter
from bot.provider.batch_wire import BatchInfo, iter_lines, line_outcome
from bot.records import JobRecord, RelaxedJob
from bot.store import batches as store
from bot.store.batches import BatchRow
from bot.store.files import FileStore
from bot.store.jobs import jobs_by_ids

log = logging.getLogger(__name__)

# Errors after which sending the same batch again cannot work: its jobs are released.
DEFINITIVE = (InvalidRequestError, BillingLimitError, AuthenticationError)
NOT_RUN_STATUS = {"expired": "expired", "cancelled": "cancelled", "cancelling": "cancelled"}


@dataclass(frozen=True, slots=True)
class RelaxedTiming:
    """Seconds on the injected clock, and the size cap of one batch (in images)."""

    window: float = 5.0  # a group waits this long after its first job for others to join
    max_batch_images: int = 40  # base64 images make big output files (research §1.5)
    first_poll: float = 2.0
    poll_factor: float = 1.5
    max_poll: float = 300.0  # batches take minutes to hours; 2,000 creates/h is the only limit
    max_attempts: int = 8  # failed submission attempts before a batch's jobs are released


@dataclass
class _Follow:
    """An open batch and when its next step is due."""

    row: BatchRow
    due: float
    interval: float
    maybe_created: bool = False
    attempts: int = 0


class RelaxedLane:
    """Gathers, submits, follows and settles relaxed jobs; see the module docstring."""

    def __init__(
        self,
        *,
        db: Database,
        catalog: Catalog,
        files: FileStore,
        clock: Clock,
        bus: EventBus,
        client: BatchApi,
        timing: RelaxedTiming | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._bus = bus
        self._client = client
        self.timing = timing or RelaxedTiming()
        self._settle = RelaxedSettlement(db=db, catalog=catalog, files=files, clock=clock, bus=bus)
        self._submitter = BatchSubmitter(db=db, catalog=catalog, files=files, clock=clock,
                                         client=client, settlement=self._settle)  # fmt: skip
        self._pending: dict[tuple[str, str], list[tuple[JobRecord, float]]] = {}
        self._follows: dict[int, _Follow] = {}
        self._busy: set[int] = set()
        self._steps: set[asyncio.Task[Any]] = set()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ---- the job service's side ------------------------------------------------------------

    def add(self, job: JobRecord) -> None:
        """A newly admitted relaxed job joins its group."""
        group = self._pending.setdefault((job.model, job.operation), [])
        group.append((job, self._clock.monotonic()))
        self._wakeup.set()

    def remove(self, job_id: int) -> bool:
        """Take a job out before it is in a batch; False when it is no longer waiting."""
        for group in self._pending.values():
            for index, (job, _) in enumerate(group):
                if job.id == job_id:
                    del group[index]
                    return True
        return False

    def gathering(self, job_id: int) -> bool:
        return any(job.id == job_id for group in self._pending.values() for job, _ in group)

    async def waiting(self, guild_id: int, user_id: int | None) -> list[RelaxedJob]:
        """A guild's (or member's) relaxed jobs not yet ended, with their batch's status."""
        return await store.waiting_relaxed(self._db, guild_id, user_id)

    async def start(self) -> None:
        """Resume: waiting jobs rejoin their groups, open batches are followed again."""
        for job in await store.queued_relaxed(self._db):
            self.add(job)
        now = self._clock.monotonic()
        for row in await store.open_batches(self._db):
            maybe = row.openai_batch_id is None  # its create may have gone through unrecorded
            self._follows[row.id] = _Follow(row, now, self.timing.first_poll, maybe_created=maybe)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="relaxed-lane")

    async def stop(self) -> None:
        """Stop the loop and any step in progress; what is recorded resumes at the next start."""
        tasks = [t for t in (self._task, *self._steps) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None

    async def idle(self) -> None:
        """Wait for every step in progress (tests and benchmarks)."""
        while self._steps:
            await asyncio.wait(set(self._steps))

    # ---- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            now = self._clock.monotonic()
            deadlines = [self._gather_due(key, group, now) for key, group in self._pending.items()]
            for follow in self._follows.values():
                if follow.row.id in self._busy:
                    continue
                if follow.due <= now:
                    self._busy.add(follow.row.id)
                    self._spawn(self._step(follow))
                else:
                    deadlines.append(follow.due)
            waits = [d - now for d in deadlines if d is not None]
            waiter = asyncio.ensure_future(self._wakeup.wait())
            try:
                if waits:
                    await wait_any(self._clock, [waiter], max(0.0, min(waits)))
                else:
                    await waiter
            finally:
                waiter.cancel()

    def _gather_due(
        self, key: tuple[str, str], group: list[tuple[JobRecord, float]], now: float
    ) -> float | None:
        """Close the group into a batch when due; else when it will be (None: empty)."""
        if not group:
            return None
        images = sum(job.n for job, _ in group)
        due = group[0][1] + self.timing.window
        if images < self.timing.max_batch_images and due > now:
            return due
        taken: list[JobRecord] = []
        while group and (not taken or sum(j.n for j in taken) + group[0][0].n
                         <= self.timing.max_batch_images):  # fmt: skip
            taken.append(group.pop(0)[0])
        self._spawn(self._open(key, taken))
        return now if group else None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._steps.add(task)
        task.add_done_callback(self._step_done)

    def _step_done(self, task: asyncio.Task[Any]) -> None:
        self._steps.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("a relaxed lane step failed", exc_info=exc)
        self._wakeup.set()

    # ---- steps -----------------------------------------------------------------------------

    async def _open(self, key: tuple[str, str], jobs: list[JobRecord]) -> None:
        """Record a new batch with its jobs (now running) before anything is sent."""
        model, operation = key
        name = f"ib-{secrets.token_hex(8)}"
        now = self._clock.now()
        async with self._db.transaction() as conn:
            opened = await store.open_batch(conn, key=name, model=model, operation=operation,
                                            job_ids=[j.id for j in jobs], now=now)  # fmt: skip
        if opened is None:
            return  # every job was cancelled meanwhile
        row, taken = opened
        for job in jobs:
            if job.id in taken:
                self._bus.emit(JobEvent("started", replace(job, state="running", started_at=now)))
        self._follows[row.id] = _Follow(row, self._clock.monotonic(), self.timing.first_poll)
        self._wakeup.set()

    async def _step(self, follow: _Follow) -> None:
        try:
            if follow.row.state == "preparing":
                await self._submit(follow)
            else:
                await self._poll(follow)
        except UpstreamError as exc:
            await self._failed_step(follow, exc)
        finally:
            self._busy.discard(follow.row.id)

    async def _submit(self, follow: _Follow) -> None:
        info = await self._submitter.submit(follow.row, maybe_created=follow.maybe_created)
        if info is None:
            await self._end(follow, "cancelled", None, None)
            return
        follow.row = replace(follow.row, state="submitted", openai_batch_id=info.id,
                             status=info.status)  # fmt: skip
        follow.attempts, follow.interval = 0, self.timing.first_poll
        follow.due = self._clock.monotonic() + follow.interval

    async def _poll(self, follow: _Follow) -> None:
        assert follow.row.openai_batch_id is not None
        info = await self._client.retrieve(follow.row.openai_batch_id)
        if info.ended:
            await self._finish(follow, info)
            return
        if info.status != follow.row.status:
            async with self._db.transaction() as conn:
                await store.set_status(conn, follow.row.id, info.status)
            follow.row = replace(follow.row, status=info.status)
        self._backoff(follow)

    def _backoff(self, follow: _Follow) -> None:
        follow.due = self._clock.monotonic() + follow.interval
        follow.interval = min(self.timing.max_poll, follow.interval * self.timing.poll_factor)

    async def _failed_step(self, follow: _Follow, exc: UpstreamError) -> None:
        log.warning("relaxed batch %s: %s", follow.row.key, exc)
        if follow.row.state != "preparing":
            self._backoff(follow)  # a poll failed: the batch runs on regardless
            return
        follow.maybe_created = True  # the create may have gone through before the failure
        follow.attempts += 1
        if isinstance(exc, DEFINITIVE) or follow.attempts >= self.timing.max_attempts:
            await self._release_all(follow, str(exc))
            return
        self._backoff(follow)

    async def _release_all(self, follow: _Follow, reason: str) -> None:
        if follow.maybe_created and await self._submitter.find(follow.row) is not None:
            self._backoff(follow)  # it exists after all: keep following it
            return
        for job in await self._running_members(follow.row):
            await self._settle.not_run(job, "failed", reason)
        await self._end(follow, "failed", None, None)

    async def _finish(self, follow: _Follow, info: BatchInfo) -> None:
        """The batch ended: settle each job from its line, then close the batch."""
        lines: dict[str, dict[str, Any]] = {}
        for file_id in (info.output_file_id, info.error_file_id):
            if file_id:
                for line in iter_lines(await self._client.content(file_id)):
                    lines[line["custom_id"]] = line
        members = {m.job_id: m.custom_id for m in await store.members(self._db, follow.row.id)}
        reason = "; ".join(info.errors) or None
        for job in await self._running_members(follow.row):
            found = lines.get(members[job.id])
            if found is not None:
                outcome = line_outcome(found, line_request(job))
                await self._settle.line(job, outcome, follow.row.created_at)
            elif info.status == "completed":
                await self._settle.lost(job)
            else:
                await self._settle.not_run(job, NOT_RUN_STATUS.get(info.status, "failed"), reason)
        await self._end(follow, info.status, info.output_file_id, info.error_file_id)
        log.info("batch %s (%s) ended %s", info.id, follow.row.key, info.status)

    async def _running_members(self, row: BatchRow) -> list[JobRecord]:
        ids = [m.job_id for m in await store.members(self._db, row.id)]
        jobs = await jobs_by_ids(self._db, ids)
        return [jobs[i] for i in ids if i in jobs and jobs[i].state == "running"]

    async def _end(
        self, follow: _Follow, status: str, output: str | None, errors: str | None
    ) -> None:
        async with self._db.transaction() as conn:
            await store.set_ended(conn, follow.row.id, status=status, output_file_id=output,
                                  error_file_id=errors, now=self._clock.now())  # fmt: skip
        self._follows.pop(follow.row.id, None)
