"""QueueSync: each process's in-memory queue kept as a mirror of the database's queued jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from bot.clock import Clock
from bot.db import Database
from bot.jobs.order.queue import JobQueue
from bot.jobs.relaxed.lane import RelaxedLane
from bot.store import jobs as store

log = logging.getLogger(__name__)

# How often the dispatcher's mirror reads the database: a job admitted by another process is
# dispatched at most this much later.
SYNC_INTERVAL = 0.25
# How often the others' mirrors read it: they only place their own admissions among the queue
# (and answer /queue), where a second's lag shows a place a few off. Each read is a pass over
# every queued job, and PostgreSQL's CPU for them grows with the queue (benchmarks/cluster.py).
FOLLOWER_INTERVAL = 1.0


class QueueSync:
    """Every `interval` s on the dispatcher (`adopting`), every `follower_interval` s on the
    others: queued fast jobs this process does not have are pushed (in id order),
    those no longer queued (cancelled elsewhere, started by the dispatcher) are removed; on the
    dispatcher (`adopting`) the relaxed lane also adopts the relaxed jobs waiting for a batch.

    A job that arrived in or left the local queue while the database was read is left alone:
    the read may predate its admission, or its start; a popped job is not put back while the
    database still lists it as queued (its runner is about to mark it running).
    """

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        queue: JobQueue,
        wake: Callable[[], None],
        relaxed: RelaxedLane | None = None,
        interval: float = SYNC_INTERVAL,
        follower_interval: float = FOLLOWER_INTERVAL,
    ) -> None:
        self._db = db
        self._clock = clock
        self._queue = queue
        self._wake = wake
        self._relaxed = relaxed
        self._interval = interval
        self._follower_interval = follower_interval
        self.adopting = False
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._gone: set[int] = set()

    async def start(self) -> None:
        self._queue.watch()
        await self.sync()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="queue-sync")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def sync(self) -> None:
        """One look at the database (the loop's step; tests call it directly)."""
        await self._mirror()
        if self.adopting and self._relaxed is not None:
            await self._adopt(self._relaxed)

    async def _run(self) -> None:
        waited = 0.0
        while True:
            # Steps of the dispatcher's interval: a follower that takes over reads at its next.
            await self._clock.sleep(self._interval)
            waited += self._interval
            if not self.adopting and waited < self._follower_interval - 1e-9:
                continue
            waited = 0.0
            try:
                await self.sync()
            except Exception:
                if not self._failing:  # once per outage, not four times a second
                    log.exception("could not read the queue from the database")
                self._failing = True
            else:
                if self._failing:
                    log.info("reading the queue from the database again")
                self._failing = False

    async def _mirror(self) -> None:
        self._gone |= self._queue.changes()[1]
        ids = await store.queued_ids(self._db, "fast")
        arrived, departed = self._queue.changes()
        queued = set(ids)
        # Taken out here (popped to run, cancelled) but maybe still queued in a read that began
        # before its change was written: not put back until the database stops listing it.
        self._gone = (self._gone | departed) & queued
        # Set arithmetic, not a loop per id: the queue may be thousands deep.
        here = self._queue.ids()
        self._queue.remove_all(here - queued - arrived)
        new = sorted(queued - here - self._gone)
        if not new:
            return
        records = await store.jobs_by_ids(self._db, new)
        self._gone |= self._queue.changes()[1]
        back = [records[i] for i in new if i in records and records[i].state == "queued"]
        self._queue.mirror(job for job in back if job.id not in self._gone)
        self._wake()

    async def _adopt(self, lane: RelaxedLane) -> None:
        before = lane.gathering_ids()
        ids = await store.queued_ids(self._db, "relaxed")
        queued = set(ids)
        for job_id in before - queued:  # cancelled in another process
            lane.remove(job_id)
        gathering = lane.gathering_ids()
        new = [i for i in ids if i not in gathering]
        if new:
            records = await store.jobs_by_ids(self._db, new)
            lane.adopt([records[i] for i in new if i in records and records[i].state == "queued"])
