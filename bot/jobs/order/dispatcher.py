"""The dispatch loop: jobs go out in fair order when the pacer and the in-flight cap let it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Coroutine
from typing import Any

from bot.clock import Clock
from bot.jobs.order.pacing import Pacer
from bot.jobs.order.policy import Wait, has_slot, next_job
from bot.jobs.order.queue import JobQueue
from bot.records import JobRecord

log = logging.getLogger(__name__)

Execute = Callable[[JobRecord, asyncio.Event], Coroutine[Any, Any, None]]


async def wait_any(clock: Clock, tasks: Collection[asyncio.Future[Any]], seconds: float) -> bool:
    """Wait until one of `tasks` is done or `seconds` pass on `clock`; True if one is done."""
    if any(task.done() for task in tasks):
        return True
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({*tasks, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    return any(task.done() for task in tasks)


class Dispatcher:
    """Pops jobs in fair order and runs each as its own task when `policy.next_job` says so.

    Each job's task records its requests with the pacer right before they go out; the loop waits
    until the job has sent all its images before looking at the next job, so two jobs never
    pass the same pacer check and one job's requests go back to back.
    """

    def __init__(
        self,
        *,
        queue: JobQueue,
        pacer: Pacer,
        clock: Clock,
        execute: Execute,
        max_in_flight: int,
        wakeup: asyncio.Event | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._queue = queue
        self._pacer = pacer
        self._clock = clock
        self._execute = execute
        self._max_in_flight = max_in_flight
        # Shared with the parts that change what may go (a job queued, cancelled, bounced).
        self._wakeup = wakeup or asyncio.Event()
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._freed = asyncio.Event()  # a job's task ended: a slot is free

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def wake(self) -> None:
        """Something changed (a job queued, cancelled or finished, a pause): look again."""
        self._wakeup.set()

    def close(self) -> None:
        """Take no more jobs; `run` returns once the jobs in flight have finished."""
        self._closing = True
        self._wakeup.set()

    def reopen(self) -> None:
        """Take jobs again (before `run` starts anew after a close)."""
        self._closing = False

    async def run(self) -> None:
        """Dispatch until closed (in-flight jobs may finish) or cancelled (they are cancelled)."""
        try:
            while not self._closing:
                if not has_slot(len(self._tasks), self._max_in_flight):
                    # Jobs queued meanwhile change nothing until a slot frees: waiting on the
                    # wakeup would run this loop once per admission (200 a second at peak).
                    self._freed.clear()
                    await self._freed.wait()
                    continue
                self._wakeup.clear()
                job, delay = self._next()
                if job is None:
                    await self._sleep(delay)
                else:
                    await self._launch(job)
            while self._tasks:
                await asyncio.wait(set(self._tasks))
        finally:
            await self._cancel_in_flight()

    def _next(self) -> tuple[JobRecord | None, float | None]:
        """The job to send now, or (None, how long to wait; None = until woken)."""
        decision = next_job(
            self._queue.peek(),
            self._pacer.room(),
            in_flight=len(self._tasks),
            max_in_flight=self._max_in_flight,
        )
        if isinstance(decision, Wait):
            head = self._queue.peek()
            if head is not None and decision.reason is not None and decision.seconds is not None:
                self._queue.announce_wait(head.job_id, decision.reason, decision.seconds)
            return None, decision.seconds
        return self._queue.pop(), None

    async def _sleep(self, delay: float | None) -> None:
        waiter = asyncio.ensure_future(self._wakeup.wait())
        try:
            if delay is None:
                await waiter
            else:
                await wait_any(self._clock, [waiter], delay)
        finally:
            waiter.cancel()

    async def _launch(self, job: JobRecord) -> None:
        started = asyncio.Event()
        task = asyncio.get_running_loop().create_task(
            self._execute(job, started), name=f"job-{job.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._done)
        waiter = asyncio.ensure_future(started.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._freed.set()
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("job task %s failed", task.get_name(), exc_info=exc)
        self._wakeup.set()

    async def _cancel_in_flight(self) -> None:
        for task in self._tasks:
            task.cancel()
        while self._tasks:
            await asyncio.wait(set(self._tasks))
