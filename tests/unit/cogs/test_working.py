"""The still-working ticker: minutes since the job started, once a tick, until told to stop."""

from __future__ import annotations

from dataclasses import replace

from bot.clock import ManualClock
from bot.records import JobRecord
from cogs._working import WORKING_TICK, StillWorking
from tests.unit.cogs.test_messages import job


async def test_the_ticker_shows_minutes_since_the_start_until_stopped() -> None:
    clock = ManualClock()
    shown: list[int] = []

    async def show(record: JobRecord, minutes: int) -> bool:
        shown.append(minutes)
        return True

    working = StillWorking(clock, show)
    working.start(replace(job(), id=1, state="running", started_at=clock.now()))
    working.start(replace(job(), id=1, state="running", started_at=clock.now()))  # no second
    await clock.run_until_idle(max_seconds=3 * WORKING_TICK)
    assert shown == [1, 2, 3]
    working.stop(1)
    await clock.run_until_idle(max_seconds=3 * WORKING_TICK)
    assert shown == [1, 2, 3]


async def test_the_ticker_ends_when_the_status_is_gone() -> None:
    clock = ManualClock()
    calls = 0

    async def show(record: JobRecord, minutes: int) -> bool:
        nonlocal calls
        calls += 1
        return False  # the interaction expired or the job ended

    StillWorking(clock, show).start(replace(job(), state="running", started_at=clock.now()))
    await clock.run_until_idle(max_seconds=10 * WORKING_TICK)
    assert calls == 1
