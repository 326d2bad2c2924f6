"""Queue positions without replaying the queue: checked against popping a copy, job by job."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime
from typing import cast

from hypothesis import given, settings, strategies as st

from bot.domain import ImageOptions
from bot.jobs.events import EventBus, JobEvent
from bot.jobs.order.queue import JobQueue
from bot.jobs.order.scheduler import FairScheduler, QueuedJob
from bot.records import JobRecord

_ids = itertools.count(1)


def pop_order(scheduler: FairScheduler) -> list[int]:
    """The oracle: what popping a copy of the queue until it is empty gives."""
    clone = copy.deepcopy(scheduler)
    order = []
    while (job := clone.pop()) is not None:
        order.append(job.job_id)
    return order


_op = st.one_of(
    st.tuples(st.just("push"), st.integers(1, 4), st.integers(1, 6), st.integers(1, 10)),
    st.tuples(st.just("push"), st.integers(1, 4), st.integers(1, 6), st.just(1)),
    st.tuples(st.just("pop"), st.just(0), st.just(0), st.just(0)),
    st.tuples(st.just("retry"), st.just(0), st.just(0), st.just(0)),
    st.tuples(st.just("cancel"), st.integers(0, 60), st.just(0), st.just(0)),
)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(_op, max_size=120))
def test_every_position_and_everyone_behind_a_push_match_the_pop_order(
    ops: list[tuple[str, int, int, int]],
) -> None:
    scheduler = FairScheduler()
    pushed: list[QueuedJob] = []
    popped: list[QueuedJob] = []
    for op, a, b, c in ops:
        if op == "push":
            queued = QueuedJob(next(_ids), a, b, c, 0)
            pushed.append(queued)
            scheduler.push(queued)
            order = pop_order(scheduler)
            place = order.index(queued.job_id) + 1
            assert scheduler.position(queued.job_id) == place
            behind = order[place:]
            assert scheduler.behind(queued.job_id) == (
                place,
                [(job_id, at) for at, job_id in enumerate(behind, start=place + 1)],
            )
        elif op == "pop" and (taken := scheduler.pop()) is not None:
            popped.append(taken)
        elif op == "retry" and popped:
            scheduler.push_front(popped.pop())
        elif op == "cancel" and pushed:
            scheduler.remove(pushed[a % len(pushed)].job_id)
        order = pop_order(scheduler)
        assert [job.job_id for job in scheduler.jobs()] == order
        for place, job_id in enumerate(order, start=1):
            assert scheduler.position(job_id) == place


def test_a_members_first_job_in_a_busy_guild_moves_everyone_after_it_back() -> None:
    scheduler = FairScheduler()
    regulars = [QueuedJob(next(_ids), 1, 1, 1, 0) for _ in range(5)]
    other = [QueuedJob(next(_ids), 2, 2, 4, 0) for _ in range(2)]
    for queued in regulars + other:
        scheduler.push(queued)
    newcomer = QueuedJob(next(_ids), 1, 3, 1, 0)
    scheduler.push(newcomer)
    order = pop_order(scheduler)
    assert scheduler.position(newcomer.job_id) == order.index(newcomer.job_id) + 1 == 2
    assert [job_id for job_id, _ in scheduler.behind(newcomer.job_id)[1]] == order[2:]


class RecordingBus:
    def __init__(self) -> None:
        self.events: list[JobEvent] = []

    def emit(self, event: JobEvent) -> None:
        self.events.append(event)

    def heard(self, job_id: int) -> list[int | None]:
        return [e.position for e in self.events if e.job.id == job_id]


def record(job_id: int, guild_id: int, user_id: int) -> JobRecord:
    options = ImageOptions(model="gpt-image-1", size="1024x1024", quality="low", n=1)
    return JobRecord(
        id=job_id, guild_id=guild_id, channel_id=1, user_id=user_id, operation="generate",
        prompt="p", options=options, state="queued", charged_micro_usd=0, charged_images=0,
        estimated_micro_usd=0, estimated_tokens=0, created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def test_far_back_jobs_hear_of_a_move_once_it_is_a_tenth_near_the_front_every_move() -> None:
    bus = RecordingBus()
    queue = JobQueue(cast(EventBus, bus))
    for job_id in range(1, 201):  # one member's 200 jobs: places 1..200
        assert queue.push(record(job_id, guild_id=1, user_id=1)) == job_id
    assert bus.events == []  # each new job is told its place by its "queued" event
    for k in range(1, 16):  # another guild's jobs go in between, one per round
        queue.push(record(1000 + k, guild_id=2, user_id=2))
        assert queue.position(150) == 150 + k  # always exact
    assert bus.heard(3) == [4, 5]  # moved by one, twice: both told
    assert bus.heard(150) == [165]  # told once it moved by 15, a tenth of 150
    assert bus.heard(200) == []  # 215 is under 220


def test_a_job_the_mirror_found_first_is_queued_once_when_its_admission_pushes_it() -> None:
    # Cluster mode: the mirror (bot/cluster/sync.py) may read a job this process has just
    # reserved before its admission pushes it; it must not be queued (and dispatched) twice.
    bus = RecordingBus()
    queue = JobQueue(cast(EventBus, bus))
    queue.push(record(1, guild_id=1, user_id=1))
    queue.mirror([record(2, guild_id=1, user_id=2)])
    assert queue.push(record(2, guild_id=1, user_id=2)) == 2  # its place, for the reply
    assert len(queue) == 2
    assert [queue.pop(), queue.pop(), queue.pop()] == [
        record(1, guild_id=1, user_id=1), record(2, guild_id=1, user_id=2), None,
    ]  # fmt: skip
