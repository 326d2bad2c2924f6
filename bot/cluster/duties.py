"""A process's duties by role: the dispatcher side (queue, relaxed lane, retention) and the
queue's mirror every process keeps."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.clock import Clock
from bot.cluster.sync import QueueSync
from bot.jobs.lifecycle import QueueLifecycle
from bot.jobs.settle.retention import Retention

log = logging.getLogger(__name__)

RETENTION_SWEEP_SECONDS = 6 * 3600  # results expire by the day; a few sweeps a day is plenty
# How often the dispatcher looks for running jobs whose process died after the handover.
ORPHAN_SWEEP_SECONDS = 5.0


class DispatcherDuties:
    """What Leadership starts and stops (bot/cluster/leader.py Duties).

    `sync` is the queue's mirror (None for a lone SQLite process, whose queue is the truth).
    """

    def __init__(
        self,
        *,
        lifecycle: QueueLifecycle,
        retention: Retention,
        retention_days: int,
        clock: Clock,
        sync: QueueSync | None = None,
    ) -> None:
        self._lifecycle = lifecycle
        self._retention = retention
        self._days = retention_days
        self._clock = clock
        self._sync = sync
        self._sweeper: asyncio.Task[None] | None = None
        self._orphans: asyncio.Task[None] | None = None

    def mode(self, dispatching: bool) -> None:
        self._lifecycle.follow(not dispatching)
        if self._sync is not None:
            self._sync.adopting = dispatching

    async def open(self) -> None:
        if self._sync is not None:
            await self._sync.start()

    async def lead(self) -> None:
        # Recovery first: running jobs -> unknown (never resent), queued ones and pacing
        # restored from the database (bot/jobs/lifecycle.py).
        await self._lifecycle.start()
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_expired_results())
        if self._orphans is None and self._sync is not None:  # other processes exist
            self._orphans = asyncio.create_task(self._sweep_orphans())

    async def pause(self) -> None:
        await self._stop_sweeper()
        await self._lifecycle.pause()

    async def stop(self) -> None:
        await self._stop_sweeper()
        if self._sync is not None:
            await self._sync.stop()
        await self._lifecycle.stop()

    def draining(self) -> bool:
        return self._lifecycle.draining

    def running(self) -> bool:
        task = self._lifecycle.dispatcher_task
        return task is not None and not task.done()

    async def _stop_sweeper(self) -> None:
        tasks = [self._sweeper, self._orphans]
        self._sweeper = self._orphans = None
        for task in tasks:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _sweep_orphans(self) -> None:
        """Running jobs whose process died after this one took over end as unknown then."""
        while True:
            await self._clock.sleep(ORPHAN_SWEEP_SECONDS)
            try:
                await self._lifecycle.recover_orphans()
            except Exception:
                log.exception("could not look for the jobs of stopped processes")

    async def _sweep_expired_results(self) -> None:
        """Delete kept results older than RESULT_RETENTION_DAYS, now and every few hours."""
        while True:
            try:
                removed = await self._retention.purge_expired(self._days)
            except Exception:
                log.exception("could not purge expired results")
            else:
                if removed:
                    log.info("deleted %d result files older than %d days", removed, self._days)
            await self._clock.sleep(RETENTION_SWEEP_SECONDS)
