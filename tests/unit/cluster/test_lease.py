"""The dispatcher lease on a real PostgreSQL server: one holder; a dropped one is replaced at
the next poll."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.clock import ManualClock
from bot.cluster.leader import LEASE_POLL, Leadership
from bot.cluster.lease import Lease
from bot.db import Database
from bot.db.locks import DISPATCHER_LEASE
from tests.unit.cluster.test_leader import Duties
from tests.unit.db.test_postgres_locks import kill_holder


async def test_only_one_lease_is_held_and_a_release_hands_it_over(
    two_processes: tuple[Database, Database],
) -> None:
    first, second = (Lease(db) for db in two_processes)
    assert not first.lasting
    assert await first.check() and not await second.check()
    assert await first.check() and not await second.check()  # the holder keeps it
    await first.release()
    assert await second.check() and not await first.check()
    await second.release()


async def run_until(clock: ManualClock, predicate: Callable[[], bool], limit: float) -> float:
    """Advance the clock in 50 ms steps (real I/O in between) until `predicate()` holds."""
    start = clock.monotonic()
    while not predicate():
        assert clock.monotonic() - start < limit, "it did not happen in time"
        clock.advance(0.05)
        for _ in range(5):
            await asyncio.sleep(0.005)  # the server answers in real time
    return clock.monotonic() - start


async def test_a_dropped_holder_is_replaced_at_the_next_poll(
    two_processes: tuple[Database, Database],
) -> None:
    clock = ManualClock()
    duties = Duties(), Duties()
    leaders = [
        Leadership(lease=Lease(db), duties=d, clock=clock)
        for db, d in zip(two_processes, duties, strict=True)
    ]
    for leader in leaders:
        await leader.start()
    assert [leader.dispatching for leader in leaders] == [True, False]
    await kill_holder(two_processes[1], DISPATCHER_LEASE)  # its socket closed, as by kill -9
    took = await run_until(clock, lambda: leaders[1].dispatching, limit=3 * LEASE_POLL)
    assert took <= LEASE_POLL + 0.1  # its next try
    await run_until(clock, lambda: not leaders[0].dispatching, limit=3 * LEASE_POLL)
    assert duties[0].calls[-1] == "pause"  # the old holder noticed and stopped dispatching
    for leader in leaders:
        await leader.stop()
