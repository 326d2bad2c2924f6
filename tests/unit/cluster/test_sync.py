"""QueueSync: two processes' queues on one database; the follower's is a silent mirror."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.cluster.sync import FOLLOWER_INTERVAL, SYNC_INTERVAL, QueueSync
from bot.errors import JobNotCancellableError
from bot.jobs.order.queue import JobQueue
from tests.unit.jobs_harness import START, Harness, harness, submission


def mirror(h: Harness, *, adopting: bool = False) -> QueueSync:
    assert h.parts is not None and h.parts.queue is not None and h.parts.wake is not None
    sync = QueueSync(db=h.db, clock=h.clock, queue=h.parts.queue, wake=h.parts.wake,
                     relaxed=h.relaxed)  # fmt: skip
    sync.adopting = adopting
    h.parts.queue.watch()
    return sync


def queue_of(h: Harness) -> JobQueue:
    assert h.parts is not None and h.parts.queue is not None
    return h.parts.queue


@asynccontextmanager
async def two_processes(tmp_path: Path) -> AsyncIterator[tuple[Harness, Harness]]:
    """The dispatcher's and a follower's job queues on one database file, neither dispatching
    (each test moves the jobs itself); the follower is in follower mode."""
    clock = ManualClock(START)
    async with AsyncExitStack() as stack:
        hs = [
            await stack.enter_async_context(harness(tmp_path, clock=clock, start=False))
            for _ in range(2)
        ]
        hs[1].lifecycle.follow(True)
        await hs[0].guilds.update_config(1, changed_by=1, relaxed="allowed")
        yield hs[0], hs[1]


async def test_jobs_admitted_elsewhere_join_the_mirror_and_leave_it_when_cancelled(
    tmp_path: Path,
) -> None:
    async with two_processes(tmp_path) as (leader, follower):
        sync = mirror(leader)
        first = (await follower.service.submit(submission(guild_id=1, user_id=10))).job
        second = (await follower.service.submit(submission(guild_id=2, user_id=20))).job
        assert await leader.service.queued_for(1) == []
        await sync.sync()
        assert leader.service.position(first.id) == 1
        assert leader.service.position(second.id) == 2
        await follower.service.cancel(first.id, guild_id=1, user_id=10, is_moderator=False)
        await sync.sync()
        assert leader.service.position(first.id) is None
        assert leader.service.position(second.id) == 1
        await leader.drain()
        await follower.drain()
        told = [(e.job.id, e.position) for e in leader.sink.of("position")]
        # The follower's replies told each its first place; the dispatcher tells only moves.
        assert told == [(second.id, 1)]
        assert follower.sink.of("position") == []  # the follower's queue is silent
        assert [e.position for e in follower.sink.of("queued")] == [1, 2]  # its own admissions


async def test_a_job_started_by_the_dispatcher_leaves_the_followers_mirror(
    tmp_path: Path,
) -> None:
    async with two_processes(tmp_path) as (leader, follower):
        leader_sync, follower_sync = mirror(leader), mirror(follower)
        job = (await follower.service.submit(submission())).job
        await leader_sync.sync()
        await leader.lifecycle.start()
        await leader.run_all()
        assert (await leader.job(job.id)).state == "succeeded"
        assert [c.request.prompt for c in leader.backend.calls] == ["a red fox"]
        assert follower.service.position(job.id) == 1  # stale until the next look
        await follower_sync.sync()
        assert follower.service.position(job.id) is None
        assert await follower.service.queued_for(1) == []


async def test_a_popped_job_is_not_put_back_while_its_start_is_being_written(
    tmp_path: Path,
) -> None:
    async with two_processes(tmp_path) as (leader, _):
        sync = mirror(leader)
        job = (await leader.service.submit(submission())).job
        assert queue_of(leader).pop() == job  # the dispatcher took it; not yet marked running
        await sync.sync()  # the database still says queued
        assert job.id not in queue_of(leader)
        await sync.sync()
        assert job.id not in queue_of(leader)


async def test_only_the_dispatchers_lane_gathers_relaxed_jobs_from_every_process(
    tmp_path: Path,
) -> None:
    async with two_processes(tmp_path) as (leader, follower):
        assert leader.relaxed is not None and follower.relaxed is not None
        sync = mirror(leader)
        job = (await follower.service.submit(submission(speed="relaxed"))).job
        assert not follower.relaxed.gathering(job.id)  # a follower gathers nothing
        await sync.sync()
        assert not leader.relaxed.gathering(job.id)  # not adopting: not the dispatcher
        sync.adopting = True
        await sync.sync()
        assert leader.relaxed.gathering(job.id)
        await sync.sync()
        assert leader.relaxed.gathering_ids() == {job.id}  # adopted once


async def test_a_follower_cancels_a_relaxed_job_the_database_has_in_no_batch(
    tmp_path: Path,
) -> None:
    async with two_processes(tmp_path) as (leader, follower):
        assert leader.relaxed is not None
        sync = mirror(leader, adopting=True)
        job = (await follower.service.submit(submission(speed="relaxed"))).job
        await sync.sync()
        cancelled = await follower.service.cancel(
            job.id, guild_id=1, user_id=10, is_moderator=False
        )
        assert cancelled.state == "cancelled"
        await sync.sync()
        assert not leader.relaxed.gathering(job.id)  # the dispatcher's lane lets it go


async def test_a_follower_refuses_to_cancel_a_relaxed_job_already_in_a_batch(
    tmp_path: Path,
) -> None:
    async with two_processes(tmp_path) as (leader, follower):
        sync = mirror(leader, adopting=True)
        job = (await follower.service.submit(submission(speed="relaxed"))).job
        await sync.sync()
        await leader.lifecycle.start()
        await leader.run_until(
            lambda: leader.relaxed is not None and not leader.relaxed.gathering(job.id)
        )
        assert (await leader.job(job.id)).state == "running"  # in its batch
        with pytest.raises(JobNotCancellableError):
            await follower.service.cancel(job.id, guild_id=1, user_id=10, is_moderator=False)


async def test_the_dispatchers_mirror_looks_four_times_a_second_on_the_clock(
    tmp_path: Path,
) -> None:
    async with two_processes(tmp_path) as (leader, follower):
        sync = mirror(leader, adopting=True)
        await sync.start()
        try:
            job = (await follower.service.submit(submission())).job
            await leader.quiesce()
            assert leader.service.position(job.id) is None
            await leader.run_for(SYNC_INTERVAL)
            assert leader.service.position(job.id) == 1
        finally:
            await sync.stop()


async def test_a_followers_mirror_looks_once_a_second(tmp_path: Path) -> None:
    # The others only place their own admissions (and answer /queue): each look is a pass over
    # every queued job, so they look less often than the dispatcher, which starts the jobs.
    async with two_processes(tmp_path) as (first, second):
        sync = mirror(second)
        await sync.start()
        try:
            job = (await first.service.submit(submission())).job
            await second.quiesce()
            await second.run_for(SYNC_INTERVAL)
            assert second.service.position(job.id) is None
            await second.run_for(FOLLOWER_INTERVAL - SYNC_INTERVAL)
            assert second.service.position(job.id) == 1
            later = (await first.service.submit(submission(user_id=11))).job
            sync.adopting = True  # it took over: it reads as the dispatcher from its next step
            await second.run_for(SYNC_INTERVAL)
            assert second.service.position(later.id) == 2
        finally:
            await sync.stop()
