"""IDENTIFYs across processes: one per bucket every 5 s, on a lock per bucket."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from bot.clock import ManualClock
from bot.identify import IdentifyGate


class SharedLocks:
    """The database's advisory locks as two processes see them: one table, keyed."""

    def __init__(self) -> None:
        self.locks: dict[int, asyncio.Lock] = {}
        self.taken: list[int] = []
        self.broken = False

    @asynccontextmanager
    async def lock(self, key: int) -> AsyncIterator[None]:
        if self.broken:
            raise sqlite3.OperationalError("the database went away")
        async with self.locks.setdefault(key, asyncio.Lock()):
            self.taken.append(key)
            yield


async def identify_times(
    clock: ManualClock, gates_and_shards: list[tuple[IdentifyGate, int]]
) -> list[float]:
    """When each shard was let through, the shards started together."""
    times: dict[int, float] = {}

    async def identify(index: int, gate: IdentifyGate, shard: int) -> None:
        await gate.wait_turn(shard)
        times[index] = clock.monotonic()

    tasks = [
        asyncio.create_task(identify(i, gate, shard))
        for i, (gate, shard) in enumerate(gates_and_shards)
    ]
    await clock.run_until_idle()
    await asyncio.gather(*tasks)
    return [times[i] for i in range(len(tasks))]


async def test_shards_of_one_bucket_in_two_processes_identify_5_s_apart() -> None:
    clock, locks = ManualClock(), SharedLocks()
    first, second = IdentifyGate(locks.lock, clock), IdentifyGate(locks.lock, clock)
    times = await identify_times(clock, [(first, 0), (second, 1), (second, 2)])
    assert sorted(times)[0] == 0.0, "the first IDENTIFY waits for nothing"
    gaps = [b - a for a, b in zip(sorted(times), sorted(times)[1:], strict=False)]
    assert all(gap >= 5.0 for gap in gaps), times
    assert locks.taken == [4_000_000] * 3


async def test_shards_of_different_buckets_identify_together() -> None:
    clock, locks = ManualClock(), SharedLocks()
    first, second = IdentifyGate(locks.lock, clock), IdentifyGate(locks.lock, clock)
    first.max_concurrency = second.max_concurrency = 2
    times = await identify_times(clock, [(first, 0), (second, 1), (second, 3)])
    assert times[:2] == [0.0, 0.0]
    assert times[2] >= 5.0, "shard 3 shares shard 1's bucket (3 % 2)"
    assert sorted(locks.taken) == [4_000_000, 4_000_001, 4_000_001]


async def test_a_stopping_process_lets_go_of_its_bucket_at_once() -> None:
    clock, locks = ManualClock(), SharedLocks()
    stopping, other = IdentifyGate(locks.lock, clock), IdentifyGate(locks.lock, clock)
    await stopping.wait_turn(0)
    waiting = asyncio.create_task(other.wait_turn(1))
    await asyncio.sleep(0)
    assert not waiting.done()
    await stopping.close()
    await asyncio.wait_for(waiting, 1)
    assert clock.monotonic() == 0.0


async def test_without_the_database_the_spacing_is_waited_here(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, locks = ManualClock(), SharedLocks()
    locks.broken = True
    times = await identify_times(clock, [(IdentifyGate(locks.lock, clock), 0)])
    assert times == [5.0]
    assert "could not take the IDENTIFY lock" in caplog.text
