"""A live process keeps its running jobs across a handover; a dead one's are recovered.

Two in-process "processes" on one PostgreSQL database (tests/unit/cluster/test_leader_handover.py
builds them), each holding its liveness key (bot/cluster/liveness.py).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from bot.clock import ManualClock
from bot.cluster.duties import ORPHAN_SWEEP_SECONDS
from bot.cluster.leader import LEASE_POLL
from bot.cluster.liveness import DEATH_CONFIRM_S, Liveness
from bot.db import Database
from bot.db.locks import DISPATCHER_LEASE, process_key
from tests.fakes.image_backend import FakeImageBackend, Step
from tests.pg import PostgresServer
from tests.unit.cluster.test_leader_handover import IPM, most_in_a_minute, two_processes
from tests.unit.db.test_postgres_locks import kill_holder
from tests.unit.jobs_harness import START, submission


async def test_a_dispatcher_that_loses_only_its_lease_delivers_its_call_and_sends_nothing_more(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    backend = FakeImageBackend(clock, latency=5.0, ipm=IPM).then(Step(latency=40.0))
    async with two_processes(pg_server, tmp_path, backend) as (old, new):
        ids = []
        for i in range(4):
            sub = submission(guild_id=1 + i, user_id=10 + i, prompt=f"job {i}")
            ids.append((await old.h.service.submit(sub)).job.id)
        await old.h.run_until(lambda: backend.in_flight == 1, max_seconds=30)
        held = ids[0]

        await kill_holder(new.h.db, DISPATCHER_LEASE)  # a reaper ends its lease's connection
        await new.h.run_until(lambda: new.leadership.dispatching, max_seconds=5)
        assert not old.leadership.dispatching
        assert (await new.h.job(held)).state == "running"  # left to its live process

        await new.h.run_all(max_seconds=600)
        await old.h.drain()
        await new.h.drain()
        assert (await new.h.job(held)).state == "succeeded"
        assert old.h.sink.kinds(held)[-1] == "succeeded"  # delivered by the process that ran it
        assert "succeeded" not in new.h.sink.kinds(held)
        assert "unknown" not in new.h.sink.kinds(held)
        assert [j.state for j in await new.h.jobs()] == ["succeeded"] * len(ids)
        assert sorted(Counter(c.request.prompt for c in backend.calls).values()) == [1] * 4
        assert backend.limit_violations == 0 and most_in_a_minute(backend.calls) <= IPM


async def test_a_running_job_whose_process_died_after_the_handover_is_recovered_by_the_sweep(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    backend = FakeImageBackend(clock, latency=5.0, ipm=IPM).then(Step(hang=True))
    async with two_processes(pg_server, tmp_path, backend) as (old, new):
        job = (await old.h.service.submit(submission(prompt="held"))).job
        await old.h.run_until(lambda: backend.in_flight == 1, max_seconds=30)
        await kill_holder(new.h.db, DISPATCHER_LEASE)
        await new.h.run_until(lambda: new.leadership.dispatching, max_seconds=5)
        await new.h.run_for(2 * ORPHAN_SWEEP_SECONDS)
        assert (await new.h.job(job.id)).state == "running"  # its process lives

        await old.die(new.h.db)  # and now it dies, its call never answered
        died_at = clock.monotonic()

        async def recovered() -> bool:
            return (await new.h.job(job.id)).state == "unknown"

        # A free key is looked at twice, a sweep apart, before its process counts as dead.
        limit = 2 * ORPHAN_SWEEP_SECONDS + LEASE_POLL
        await new.h.run_until(recovered, max_seconds=limit)
        assert clock.monotonic() - died_at <= limit
        await new.h.drain()
        assert new.h.sink.kinds(job.id) == ["unknown"]  # its member told by the dispatcher
        assert [r.error_code for r in await new.h.ledger(job.id)] == ["interrupted"]
        remnant = old.h.lifecycle._draining
        if remnant is not None:  # the dead process's last task goes with it
            remnant.cancel()
            await asyncio.wait({remnant})
        assert len(backend.calls) == 1


async def test_a_clean_stop_frees_the_lease_first_and_delivers_its_own_call(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    backend = FakeImageBackend(clock, latency=5.0, ipm=IPM).then(Step(latency=30.0))
    async with two_processes(pg_server, tmp_path, backend) as (old, new):
        ids = []
        for i in range(3):
            sub = submission(guild_id=1 + i, user_id=10 + i, prompt=f"job {i}")
            ids.append((await new.h.service.submit(sub)).job.id)
        await old.h.run_until(lambda: backend.in_flight == 1, max_seconds=30)

        stopping = asyncio.ensure_future(old.leadership.stop())  # SIGTERM
        asked = clock.monotonic()
        await new.h.run_until(lambda: new.leadership.dispatching, max_seconds=5)
        assert clock.monotonic() - asked <= LEASE_POLL + 0.3  # not after the 30 s call
        assert not stopping.done()  # still finishing its call
        await new.h.run_until(lambda: stopping.done(), max_seconds=60)
        await new.h.run_all(max_seconds=600)
        await new.h.drain()
        assert old.h.sink.kinds(ids[0])[-1] == "succeeded"  # delivered by the stopping one
        assert [j.state for j in await new.h.jobs()] == ["succeeded"] * len(ids)
        assert sorted(Counter(c.request.prompt for c in backend.calls).values()) == [1] * 3
        assert backend.limit_violations == 0 and most_in_a_minute(backend.calls) <= IPM


async def test_the_new_dispatcher_counts_a_live_process_s_images_in_flight_against_ipm(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    backend = FakeImageBackend(clock, latency=5.0, ipm=IPM).then(Step(latency=100.0))
    async with two_processes(pg_server, tmp_path, backend) as (old, new):
        # A whole minute's images in one request, still out at the handover.
        split = (await old.h.service.submit(submission(prompt="split", n=IPM))).job
        await old.h.run_until(lambda: backend.in_flight == 1, max_seconds=30)
        after = (await old.h.service.submit(submission(guild_id=2, prompt="after"))).job

        await kill_holder(new.h.db, DISPATCHER_LEASE)
        await new.h.run_until(lambda: new.leadership.dispatching, max_seconds=5)
        await new.h.run_all(max_seconds=600)
        await old.h.drain()
        assert [(await new.h.job(i)).state for i in (split.id, after.id)] == ["succeeded"] * 2
        assert backend.limit_violations == 0 and most_in_a_minute(backend.calls) <= IPM


async def test_a_key_freed_for_a_moment_is_no_death(
    two_processes: tuple[Database, Database],
) -> None:
    """A restarted server frees every process's key at once; each live process takes its own
    again at its next poll. Found free once, a process is not yet dead: its running job would
    be ended as unknown and its answer, with the paid image, dropped."""
    first, second = two_processes
    clock = ManualClock(START)
    owner, watcher = Liveness(first, clock), Liveness(second, clock)
    await owner.start()
    assert owner.process_id is not None
    pid = owner.process_id
    await kill_holder(second, process_key(pid))  # its connection ended under it
    assert await watcher.alive(pid)  # free at this look, perhaps only for a moment
    assert not await watcher.alive(pid, grace=False)  # for re-sending its results: gone
    clock.advance(DEATH_CONFIRM_S - 0.5)
    assert await watcher.alive(pid)
    await owner.keep()  # its next poll takes the key again
    clock.advance(10)
    assert await watcher.alive(pid)
    await owner.stop()  # and now it is gone for good
    assert await watcher.alive(pid)
    clock.advance(DEATH_CONFIRM_S)
    assert not await watcher.alive(pid)  # still free a while later: dead
