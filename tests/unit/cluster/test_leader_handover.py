"""Two processes' job queues on one PostgreSQL database: one dispatches, the other takes over.

In process: each "process" is its own Database, job queue (bot/jobs/wiring.py) and Leadership;
they share the manual clock and one fake Images API (the account's strict IPM).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.clock import ManualClock
from bot.cluster.duties import ORPHAN_SWEEP_SECONDS
from bot.cluster.leader import LEASE_POLL, Leadership
from bot.cluster.liveness import Liveness
from bot.cluster.wiring import build_leadership
from bot.db import Database, open_database
from bot.db.locks import DISPATCHER_LEASE, process_key
from tests.fakes.image_backend import Call, FakeImageBackend, Step
from tests.pg import PostgresServer
from tests.unit.db.test_postgres_locks import kill_holder
from tests.unit.jobs_harness import START, Harness, make_harness, submission

IPM = 4  # with the default burst (one image), one image every 15 s


@dataclass
class Process:
    h: Harness
    leadership: Leadership
    liveness: Liveness

    async def die(self, other: Database) -> None:
        """kill -9: its loops stop and every connection of its own closes (the lease's and its
        liveness's), as PostgreSQL does when the process's sockets close."""
        if self.leadership._task is not None:
            self.leadership._task.cancel()
        if self.leadership.dispatching:
            await kill_holder(other, DISPATCHER_LEASE)
        assert self.liveness.process_id is not None
        await kill_holder(other, process_key(self.liveness.process_id))


@asynccontextmanager
async def process(
    url: str, folder: Path, clock: ManualClock, backend: FakeImageBackend
) -> AsyncIterator[Process]:
    async with open_database(url) as db:
        liveness = Liveness(db, clock)
        h = make_harness(db, clock, backend, folder, ipm=IPM, tpm=10**8, max_in_flight=1,
                         owners=liveness)  # fmt: skip
        assert h.parts is not None
        leadership = build_leadership(h.parts, db=db, clock=clock, retention_days=30,
                                      liveness=liveness)  # fmt: skip
        await leadership.start()
        try:
            yield Process(h, leadership, liveness)
        finally:
            stopping = asyncio.ensure_future(leadership.stop())
            while not stopping.done():  # its waits are on the manual clock
                clock.advance(1.0)
                await asyncio.sleep(0.01)
            await stopping


@asynccontextmanager
async def two_processes(
    pg_server: PostgresServer, tmp_path: Path, backend: FakeImageBackend
) -> AsyncIterator[tuple[Process, Process]]:
    clock = backend.clock
    url = pg_server.new_database()
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(process(url, tmp_path / "a", clock, backend))
        second = await stack.enter_async_context(process(url, tmp_path / "b", clock, backend))
        yield first, second
    pg_server.drop_database(url)


def most_in_a_minute(calls: list[Call]) -> int:
    """The most images the provider saw in any 60 s window."""
    times = sorted(c.at for c in calls for _ in range(c.request.options.n))
    return max((sum(1 for t in times if start <= t < start + 60) for start in times), default=0)


async def count(db: Database, sql: str) -> int:
    row = await db.fetchone(sql)
    assert row is not None
    return int(row[0])


async def test_a_job_admitted_through_the_follower_is_dispatched_once_by_the_dispatcher(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    backend = FakeImageBackend(ManualClock(START), latency=5.0, ipm=IPM)
    async with two_processes(pg_server, tmp_path, backend) as (leader, follower):
        assert leader.leadership.dispatching and not follower.leadership.dispatching
        job = (await follower.h.service.submit(submission(prompt="from the follower"))).job

        async def done() -> bool:
            return (await leader.h.job(job.id)).state == "succeeded"

        await leader.h.run_until(done, max_seconds=60)
        await leader.h.drain()
        await follower.h.drain()
        assert [c.request.prompt for c in backend.calls] == ["from the follower"]
        # its place was told by the follower's reply: the dispatcher tells it start and result
        assert leader.h.sink.kinds(job.id) == ["started", "succeeded"]
        assert follower.h.sink.kinds(job.id) == ["queued"]  # its member's answer, nothing more
        await follower.h.run_for(1.0)
        assert follower.h.service.position(job.id) is None  # gone from the follower's mirror


async def test_when_the_dispatcher_dies_the_other_takes_over_and_nothing_is_sent_twice(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    backend = FakeImageBackend(clock, latency=5.0, ipm=IPM).then(Step(), Step(), Step(hang=True))
    async with two_processes(pg_server, tmp_path, backend) as (old, new):
        ids = []
        for i in range(8):  # four guilds, two members each; admitted through both processes
            through = (old, new)[i % 2]
            sub = submission(guild_id=1 + i % 4, user_id=10 + i, prompt=f"job {i}")
            ids.append((await through.h.service.submit(sub)).job.id)
        await old.h.run_until(
            lambda: backend.in_flight == 1 and len(backend.calls) == 3, max_seconds=120
        )
        in_flight = next(j for j in await old.h.jobs() if j.state == "running")
        assert sum(j.state == "succeeded" for j in await old.h.jobs()) == 2

        # The dispatcher dies: its loops stop and its locks' connections close (kill -9).
        assert old.leadership._task is not None
        await old.die(new.h.db)
        died_at = clock.monotonic()
        await new.h.run_until(lambda: new.leadership.dispatching, max_seconds=5)
        assert clock.monotonic() - died_at <= LEASE_POLL + 0.3  # at its next poll

        async def recovered() -> bool:
            return (await new.h.job(in_flight.id)).state == "unknown"

        # Its key found free at the takeover, still free at the next sweep: dead.
        await new.h.run_until(recovered, max_seconds=ORPHAN_SWEEP_SECONDS + LEASE_POLL)
        # The dead process's last request never ends; its task goes with the process, and the
        # remnant's settlement finds the job ended already: nothing recorded twice.
        remnant = old.h.lifecycle.dispatcher_task
        assert remnant is not None
        remnant.cancel()
        await asyncio.wait({remnant})

        await new.h.run_all(max_seconds=600)
        jobs = {j.id: j for j in await new.h.jobs()}
        assert jobs[in_flight.id].state == "unknown"  # never resent, its doubt charged
        assert new.h.sink.kinds(in_flight.id) == ["unknown"]  # its member told by the new one
        assert [r.error_code for r in await new.h.ledger(in_flight.id)] == ["interrupted"]
        assert all(jobs[i].state == "succeeded" for i in ids if i != in_flight.id)
        sent = Counter(c.request.prompt for c in backend.calls)
        assert sorted(sent.values()) == [1] * 8  # every job sent exactly once
        assert backend.limit_violations == 0 and most_in_a_minute(backend.calls) <= IPM
        rows = "SELECT COUNT(*) FROM api_calls WHERE cost_micro_usd > 0"
        assert await count(new.h.db, rows) == 8  # one charged row per job, none twice
