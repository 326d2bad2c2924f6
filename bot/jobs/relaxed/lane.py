"""The relaxed lane: relaxed jobs gathered per model and endpoint into Batch API batches, the
batches followed with backoff until they end, and each job settled from its line.

One loop on the injected clock does three things when they fall due: it closes a group of
waiting jobs into a batch (after a short gathering window, or at once when the group reaches
the size cap), takes a new batch through upload and create (bot/jobs/relaxed/submit.py), and
polls a submitted batch (first after `first_poll` seconds, then each wait `poll_factor` times
longer up to `max_poll`). Each step runs as its own task; the database records every step, so
a stop or a crash at any point resumes at the next start (`start` reads what is open).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import replace
from typing import Any

from bot.catalog.models import Catalog
from bot.clock import Clock
from bot.db import Database
from bot.jobs.backend import BatchApi
from bot.jobs.events import EventBus, JobEvent
from bot.jobs.order.dispatcher import wait_any
from bot.jobs.relaxed.follow import BatchFollower, RelaxedTiming
from bot.jobs.relaxed.settle import RelaxedSettlement
from bot.jobs.relaxed.submit import BatchSubmitter
from bot.jobs.settle.ending import Endings
from bot.provider.account import AccountAlarm
from bot.records import JobRecord, RelaxedJob
from bot.store import batches as store
from bot.store.files import FileStore

__all__ = ["RelaxedLane", "RelaxedTiming"]

log = logging.getLogger(__name__)


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
        endings: Endings,
        timing: RelaxedTiming | None = None,
        account: AccountAlarm | None = None,  # shared with the fast path: told once per cause
    ) -> None:
        self._db = db
        self._clock = clock
        self._bus = bus
        self.timing = timing or RelaxedTiming()
        settle = RelaxedSettlement(catalog=catalog, files=files, clock=clock, endings=endings)
        submitter = BatchSubmitter(db=db, catalog=catalog, files=files, clock=clock,
                                   client=client, settlement=settle, requeue=self._requeue,
                                   max_input_bytes=self.timing.max_input_bytes)  # fmt: skip
        self._follower = BatchFollower(db=db, clock=clock, client=client, submitter=submitter,
                                       settlement=settle, timing=self.timing,
                                       requeue=self._requeue,
                                       account=account or AccountAlarm())  # fmt: skip
        self._pending: dict[tuple[str, str], list[tuple[JobRecord, float]]] = {}
        self._steps: set[asyncio.Task[Any]] = set()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ---- the job service's side ------------------------------------------------------------

    def add(self, job: JobRecord, delay: float = 0.0) -> None:
        """A newly admitted relaxed job joins its group (counted as arriving `delay` s from now)."""
        group = self._pending.setdefault((job.model, job.operation), [])
        group.append((job, self._clock.monotonic() + delay))
        self._wakeup.set()

    def adopt(self, jobs: list[JobRecord]) -> None:
        """Relaxed jobs another process admitted (bot/cluster/sync.py) join their groups."""
        known = self.gathering_ids()
        for job in jobs:
            if job.id not in known:
                self.add(job)

    def _requeue(self, jobs: list[JobRecord], delay: float) -> None:
        for job in jobs:
            self.remove(job.id)  # adopted meanwhile from the database: it waits `delay` anyway
            self.add(job, delay)

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

    def gathering_ids(self) -> set[int]:
        return {job.id for group in self._pending.values() for job, _ in group}

    async def waiting(self, guild_id: int, user_id: int | None) -> list[RelaxedJob]:
        """A guild's (or member's) relaxed jobs not yet ended, with their batch's status."""
        return await store.waiting_relaxed(self._db, guild_id, user_id)

    async def start(self) -> None:
        """Resume: waiting jobs rejoin their groups, open batches are followed again."""
        self._pending.clear()  # the database says who waits (once more after a stop)
        for job in await store.queued_relaxed(self._db):
            self.add(job)
        for row in await store.open_batches(self._db):
            # Without a provider id its create may have gone through unrecorded: look it up.
            self._follower.add(row, maybe_created=row.openai_batch_id is None)
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
            ready, later = self._follower.due(now)
            for follow in ready:
                self._spawn(self._follower.step(follow))
            deadlines.append(later)
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
        self._follower.add(row)
        self._wakeup.set()
