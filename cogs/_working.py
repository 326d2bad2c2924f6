"""The "still working, N min" line on a running job's status: one ticker per job until it ends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.clock import Clock
from bot.records import JobRecord

# High quality and edits can take minutes (bot/provider/timeouts.py); the status says so this
# often, in seconds.
WORKING_TICK = 60.0

ShowWorking = Callable[[JobRecord, int], Awaitable[bool]]


class StillWorking:
    """Every WORKING_TICK after a job started, `show(job, minutes)` (minutes since its start on
    the clock); a ticker ends when `show` returns False or `stop` is called."""

    def __init__(self, clock: Clock, show: ShowWorking) -> None:
        self._clock = clock
        self._show = show
        self._tickers: dict[int, asyncio.Task[None]] = {}

    def start(self, job: JobRecord) -> None:
        if job.id not in self._tickers:
            self._tickers[job.id] = asyncio.create_task(self._tick(job))

    def stop(self, job_id: int) -> None:
        ticker = self._tickers.pop(job_id, None)
        if ticker is not None:
            ticker.cancel()

    async def _tick(self, job: JobRecord) -> None:
        started = job.started_at or self._clock.now()
        try:
            while True:
                await self._clock.sleep(WORKING_TICK)
                minutes = int((self._clock.now() - started).total_seconds() // 60)
                if not await self._show(job, minutes):
                    return
        finally:
            if self._tickers.get(job.id) is asyncio.current_task():
                del self._tickers[job.id]
