"""Leadership on an injected clock: who dispatches, when a follower takes over, what it starts."""

from __future__ import annotations

import asyncio
import logging
from typing import cast

import psycopg
import pytest

from bot.clock import ManualClock
from bot.cluster.leader import LEASE_POLL, Leadership
from bot.cluster.lease import Lease
from bot.db import Database

pytestmark = pytest.mark.asyncio


class LockServer:
    """PostgreSQL's advisory locks as the lease sees them: one holder per key, freed when the
    holder's connection drops."""

    def __init__(self) -> None:
        self.holders: dict[int, FakeLock] = {}
        self.reachable = True


class FakeLock:
    def __init__(self, server: LockServer, key: int) -> None:
        self._server = server
        self._key = key
        self.dropped = False

    def drop(self) -> None:
        """The connection is gone (a cable pulled, the backend killed): the server frees it."""
        self.dropped = True
        if self._server.holders.get(self._key) is self:
            del self._server.holders[self._key]

    async def alive(self) -> bool:
        return not self.dropped

    async def release(self) -> None:
        self.drop()


class FakeDatabase:
    def __init__(self, server: LockServer, dialect: str = "postgresql") -> None:
        self.server = server
        self.dialect = dialect
        self.tries = 0

    async def try_session_lock(self, key: int) -> FakeLock | None:
        self.tries += 1
        if not self.server.reachable:
            raise psycopg.OperationalError("connection refused")
        if self.dialect == "sqlite":
            return FakeLock(self.server, key)
        if key in self.server.holders:
            return None
        lock = self.server.holders[key] = FakeLock(self.server, key)
        return lock


class Duties:
    """Records what Leadership asks of a process."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.dispatching = False
        self.in_flight = False  # calls sent while it last dispatched, not answered yet

    def mode(self, dispatching: bool) -> None:
        self.calls.append(f"mode:{'dispatcher' if dispatching else 'follower'}")

    async def open(self) -> None:
        self.calls.append("open")

    async def lead(self) -> None:
        self.calls.append("lead")
        self.dispatching = True

    async def pause(self) -> None:
        self.calls.append("pause")
        self.dispatching = False

    async def stop(self) -> None:
        self.calls.append("stop")
        self.dispatching = False

    def running(self) -> bool:
        return self.dispatching

    def draining(self) -> bool:
        return self.in_flight


class Process:
    def __init__(self, server: LockServer, clock: ManualClock, dialect: str = "postgresql"):
        self.db = FakeDatabase(server, dialect)
        self.duties = Duties()
        self.gauge: list[bool] = []
        self.lease = Lease(cast(Database, self.db))
        self.leadership = Leadership(
            lease=self.lease, duties=self.duties, clock=clock, on_change=self.gauge.append
        )


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def tick(clock: ManualClock, seconds: float) -> None:
    """Let `seconds` of clock time pass in small steps, every task running between them."""
    await settle()  # tasks just created take their first step (and start sleeping) now
    until = clock.monotonic() + seconds + 1e-9
    while clock.monotonic() < until:
        clock.advance(min(0.05, until - clock.monotonic()))
        await settle()


async def test_the_first_process_dispatches_at_once_and_the_second_follows() -> None:
    server, clock = LockServer(), ManualClock()
    first, second = Process(server, clock), Process(server, clock)
    await first.leadership.start()
    await second.leadership.start()
    assert first.leadership.dispatching and not second.leadership.dispatching
    assert first.duties.calls == ["mode:follower", "open", "mode:dispatcher", "lead"]
    assert second.duties.calls == ["mode:follower", "open"]
    await tick(clock, 10 * LEASE_POLL)
    assert "lead" not in second.duties.calls  # every try refused while the holder lives
    assert second.db.tries >= 10  # it kept trying, once a second
    assert (first.gauge, second.gauge) == ([False, True], [False])
    await first.leadership.stop()
    await second.leadership.stop()


async def test_a_follower_takes_over_at_its_next_poll_once_the_holder_is_gone() -> None:
    server, clock = LockServer(), ManualClock()
    first, second = Process(server, clock), Process(server, clock)
    await first.leadership.start()
    await second.leadership.start()
    await tick(clock, 0.5)
    server.holders[3].drop()  # the holder's connection is closed (kill -9 closes its socket)
    await tick(clock, 0.45)
    assert not second.leadership.dispatching  # not before its next try
    await tick(clock, 0.1)
    assert second.leadership.dispatching
    assert second.duties.calls[-2:] == ["mode:dispatcher", "lead"]
    assert second.gauge == [False, True]
    await first.leadership.stop()
    await second.leadership.stop()


async def test_a_holder_that_lost_its_connection_stops_dispatching_at_its_next_check(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, clock = LockServer(), ManualClock()
    first, second = Process(server, clock), Process(server, clock)
    with caplog.at_level(logging.INFO, logger="bot.cluster.leader"):
        await first.leadership.start()
        await second.leadership.start()
        server.holders[3].drop()
        await tick(clock, LEASE_POLL)
    assert first.duties.calls[-2:] == ["mode:follower", "pause"]
    assert not first.leadership.dispatching and not first.duties.dispatching
    assert first.gauge == [False, True, False]
    assert second.leadership.dispatching  # exactly one dispatches
    changes = [r.getMessage() for r in caplog.records]
    assert changes == [
        "this process holds the dispatcher lease: dispatching",
        "this process no longer holds the dispatcher lease: dispatching stopped",
        "this process holds the dispatcher lease: dispatching",
    ]
    await tick(clock, 5 * LEASE_POLL)  # the old holder stays a follower: the lease is taken
    assert first.duties.calls.count("lead") == 1
    await first.leadership.stop()
    await second.leadership.stop()


async def test_a_clean_stop_frees_the_lease_after_the_duties_stopped() -> None:
    server, clock = LockServer(), ManualClock()
    first, second = Process(server, clock), Process(server, clock)
    await first.leadership.start()
    await second.leadership.start()
    await first.leadership.stop()
    assert first.duties.calls[-1] == "stop" and 3 not in server.holders
    await tick(clock, LEASE_POLL)
    assert second.leadership.dispatching
    await second.leadership.stop()


async def test_sqlite_holds_the_lease_at_once_and_never_looks_again() -> None:
    server, clock = LockServer(), ManualClock()
    alone = Process(server, clock, dialect="sqlite")
    await alone.leadership.start()
    assert alone.duties.calls == ["mode:dispatcher", "lead"]  # as before: the queue starts
    assert alone.leadership.healthy()
    assert clock.next_deadline is None  # nothing polls: a lone process is the dispatcher
    await alone.leadership.stop()
    assert alone.duties.calls[-1] == "stop"


async def test_readiness_follows_the_loop_and_the_dispatcher_it_should_run() -> None:
    server, clock = LockServer(), ManualClock()
    first, second = Process(server, clock), Process(server, clock)
    await first.leadership.start()
    await second.leadership.start()
    assert first.leadership.healthy() and second.leadership.healthy()  # a follower is ready
    first.duties.dispatching = False  # its dispatch loop died
    assert not first.leadership.healthy()
    await first.leadership.stop()
    await second.leadership.stop()
    assert not second.leadership.healthy()


async def test_an_unreachable_database_leaves_a_follower_following() -> None:
    server, clock = LockServer(), ManualClock()
    first, second = Process(server, clock), Process(server, clock)
    await first.leadership.start()
    await second.leadership.start()
    server.reachable = False
    await tick(clock, 3 * LEASE_POLL)
    assert second.leadership.healthy()  # the loop goes on
    server.reachable = True
    server.holders[3].drop()
    await tick(clock, LEASE_POLL)
    assert second.leadership.dispatching
    await first.leadership.stop()
    await second.leadership.stop()


async def test_a_process_still_settling_its_last_calls_leaves_the_lease_to_the_others() -> None:
    server, clock = LockServer(), ManualClock()
    first = Process(server, clock)
    await first.leadership.start()
    server.holders[3].drop()  # its lease connection ends; its calls are still out
    first.duties.in_flight = True
    await tick(clock, 5 * LEASE_POLL)
    # Free as the lease is, taking it back would stall dispatching behind those calls.
    assert not first.leadership.dispatching and 3 not in server.holders
    first.duties.in_flight = False
    await tick(clock, LEASE_POLL)
    assert first.leadership.dispatching
    await first.leadership.stop()
