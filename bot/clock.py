"""Injected time: a Clock protocol, real and manual clocks, and the UTC day and month boundaries."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


def day_start(now: datetime) -> datetime:
    """00:00 UTC of `now`'s UTC day (daily budgets and quotas count from here)."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def next_day(now: datetime) -> datetime:
    """00:00 UTC of the day after `now`'s: when daily budgets and quotas reset."""
    return day_start(now) + timedelta(days=1)


def month_start(now: datetime) -> datetime:
    """00:00 UTC on the first of `now`'s UTC month (monthly budgets count from here)."""
    return day_start(now).replace(day=1)


def next_month(now: datetime) -> datetime:
    """00:00 UTC on the first of the month after `now`'s: when monthly budgets reset."""
    first = month_start(now)
    if first.month == 12:
        return first.replace(year=first.year + 1, month=1)
    return first.replace(month=first.month + 1)


class Clock(Protocol):
    """Where the core reads time and sleeps; the real one in production, a manual one in tests."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for pacing."""

    def now(self) -> datetime:
        """The current aware UTC time, for records and day/month boundaries."""

    async def sleep(self, seconds: float) -> None:
        """Wait this long on this clock."""


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when told; `sleep` parks until `advance` passes its deadline.

    `run_until_idle`-style tests call `advance` (or `auto_advance`) so that simulated hours take
    milliseconds of real time.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._epoch = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._t = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._t

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._epoch.timestamp() + self._t, UTC)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._t + seconds, next(self._seq), fut))
        await fut

    @property
    def next_deadline(self) -> float | None:
        """The earliest time a sleeper wakes, or None when nobody sleeps."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self._t += max(0.0, seconds)
        while self._sleepers and self._sleepers[0][0] <= self._t:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    async def run_until_idle(self, *, max_seconds: float = 86_400.0, settle: int = 20) -> None:
        """Let tasks run; whenever all are asleep, jump to the next deadline (up to max_seconds)."""
        limit = self._t + max_seconds
        while True:
            for _ in range(settle):
                await asyncio.sleep(0)
            deadline = self.next_deadline
            if deadline is None or deadline > limit:
                return
            self.advance(deadline - self._t)


class OffsetClock(SystemClock):
    """Real time plus an offset that tests move forward, e.g. past an interaction token's life.

    With `start`, `now()` begins at that instant (and runs at real speed), so a test's view of
    the catalog's shutdown dates and of day boundaries does not depend on today's date.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.offset = 0.0 if start is None else start.timestamp() - time.time()

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self.offset, UTC)

    def advance(self, seconds: float) -> None:
        self.offset += seconds
