"""FairScheduler: guilds take turns by images, members take turns, FIFO per member, positions."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings, strategies as st

from bot.jobs.order.scheduler import FairScheduler, QueuedJob

_ids = itertools.count(1)


def job(guild: int, user: int = 1, images: int = 1, tokens: int = 0) -> QueuedJob:
    return QueuedJob(next(_ids), guild, user, images, tokens)


def drain(scheduler: FairScheduler) -> list[QueuedJob]:
    order = []
    while (popped := scheduler.pop()) is not None:
        order.append(popped)
    return order


def test_one_member_is_served_first_in_first_out() -> None:
    scheduler = FairScheduler()
    jobs = [job(1, images=n) for n in (3, 1, 10, 2)]
    for queued in jobs:
        scheduler.push(queued)
    assert drain(scheduler) == jobs


def test_members_of_a_guild_take_turns() -> None:
    scheduler = FairScheduler()
    alice = [job(1, user=10) for _ in range(3)]
    bob = [job(1, user=20) for _ in range(3)]
    for queued in alice + bob:
        scheduler.push(queued)
    assert drain(scheduler) == [alice[0], bob[0], alice[1], bob[1], alice[2], bob[2]]


def test_guilds_take_turns() -> None:
    scheduler = FairScheduler()
    busy = [job(1) for _ in range(5)]
    other = [job(2) for _ in range(2)]
    for queued in busy + other:
        scheduler.push(queued)
    assert [j.guild_id for j in drain(scheduler)] == [1, 2, 1, 2, 1, 1, 1]


def test_an_n4_job_gets_the_same_image_share_as_four_n1_jobs() -> None:
    scheduler = FairScheduler()
    for _ in range(10):
        scheduler.push(job(1, images=4))
    for _ in range(40):
        scheduler.push(job(2, images=1))
    served = {1: 0, 2: 0}
    order = drain(scheduler)
    for popped in order[:48]:  # while both guilds still have jobs
        served[popped.guild_id] += popped.images
        assert abs(served[1] - served[2]) <= 4
    # The n=4 job does not jump ahead of the other guild's n=1 jobs: it waits its four rounds.
    assert [j.guild_id for j in order[:9]] == [2, 2, 2, 1, 2, 2, 2, 2, 1]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(4, 10), min_size=200, max_size=200),
    members=st.integers(1, 5),
    popped_before=st.integers(0, 150),
    newcomer_images=st.integers(1, 4),
)
def test_a_second_guild_is_served_within_two_dispatches_of_a_200_job_backlog(
    sizes: list[int], members: int, popped_before: int, newcomer_images: int
) -> None:
    scheduler = FairScheduler()
    for index, n in enumerate(sizes):
        scheduler.push(job(1, user=index % members, images=n))
    for _ in range(popped_before):
        scheduler.pop()
    newcomer = job(2, images=newcomer_images)
    scheduler.push(newcomer)
    assert scheduler.position(newcomer.job_id) in (1, 2)
    assert newcomer in (scheduler.pop(), scheduler.pop())


def test_a_second_guild_is_served_within_two_dispatches_of_single_image_jobs() -> None:
    scheduler = FairScheduler()
    for _ in range(200):
        scheduler.push(job(1))
    scheduler.pop()
    newcomer = job(2)
    scheduler.push(newcomer)
    assert newcomer in (scheduler.pop(), scheduler.pop())


def test_a_new_guild_waits_at_most_one_job_per_busy_guild() -> None:
    scheduler = FairScheduler()
    for guild in (1, 2, 3):
        for _ in range(5):
            scheduler.push(job(guild))
    scheduler.pop()
    newcomer = job(4)
    scheduler.push(newcomer)
    assert scheduler.position(newcomer.job_id) is not None
    assert scheduler.position(newcomer.job_id) <= 4  # type: ignore[operator]


def test_push_front_makes_the_job_its_guilds_next() -> None:
    scheduler = FairScheduler()
    first, second = job(1, user=10), job(1, user=20)
    scheduler.push(first)
    scheduler.push(second)
    scheduler.push(job(2))
    rejected = scheduler.pop()
    assert rejected == first
    scheduler.push_front(rejected)
    assert scheduler.position(first.job_id) == 1
    guild_order = [j for j in drain(scheduler) if j.guild_id == 1]
    assert guild_order == [first, second]


def test_push_front_after_the_guild_emptied_queues_it_again() -> None:
    scheduler = FairScheduler()
    only = job(1, images=3)
    scheduler.push(only)
    assert scheduler.pop() == only
    assert len(scheduler) == 0
    scheduler.push_front(only)
    assert scheduler.peek() == only
    assert scheduler.guild_length(1) == 1


def test_429s_do_not_change_the_image_share() -> None:
    """A job pushed back is not charged, and the refund gives its guild nothing extra."""
    scheduler = FairScheduler()
    for _ in range(30):
        scheduler.push(job(1, images=4))
        for _ in range(4):
            scheduler.push(job(2, images=1))
    served = {1: 0, 2: 0}
    for attempt in itertools.count():
        popped = scheduler.pop()
        if popped is None or not scheduler.guild_length(1) or not scheduler.guild_length(2):
            break
        if attempt % 3 == 0:
            scheduler.push_front(popped)  # a 429: not served
            continue
        served[popped.guild_id] += popped.images
        assert abs(served[1] - served[2]) <= 4


@settings(max_examples=100, deadline=None)
@given(
    specs=st.lists(st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 10)), min_size=1),
    popped_before=st.integers(0, 20),
)
def test_a_job_pushed_back_right_away_leaves_the_order_unchanged(
    specs: list[tuple[int, int, int]], popped_before: int
) -> None:
    plain, retried = FairScheduler(), FairScheduler()
    for guild, user, n in specs:
        queued = job(guild, user=user, images=n)
        plain.push(queued)
        retried.push(queued)
    for _ in range(popped_before):
        assert plain.pop() == retried.pop()
    rejected = retried.pop()
    if rejected is not None:
        retried.push_front(rejected)
        assert retried.peek() == rejected
    assert drain(retried) == drain(plain)


def test_remove_cancels_a_queued_job() -> None:
    scheduler = FairScheduler()
    keep, cancel, last = job(1), job(1), job(2)
    for queued in (keep, cancel, last):
        scheduler.push(queued)
    assert scheduler.remove(cancel.job_id) == cancel
    assert scheduler.remove(cancel.job_id) is None
    assert cancel.job_id not in scheduler
    assert scheduler.remove(last.job_id) == last
    assert scheduler.guild_length(2) == 0
    assert drain(scheduler) == [keep]


def test_lengths_count_queued_jobs() -> None:
    scheduler = FairScheduler()
    for user in (1, 1, 2):
        scheduler.push(job(7, user=user))
    scheduler.push(job(8, user=1))
    assert len(scheduler) == 4
    assert scheduler.guild_length(7) == 3
    assert scheduler.member_length(7, 1) == 2
    assert scheduler.member_length(8, 2) == 0
    assert scheduler.guild_length(9) == 0
    scheduler.pop()
    assert len(scheduler) == 3
    assert len(scheduler.jobs()) == 3


def test_a_job_is_queued_once_and_asks_for_images() -> None:
    scheduler = FairScheduler()
    queued = job(1)
    scheduler.push(queued)
    with pytest.raises(ValueError, match="already queued"):
        scheduler.push(queued)
    with pytest.raises(ValueError, match="images"):
        scheduler.push(job(1, images=0))


def test_an_empty_scheduler_has_nothing() -> None:
    scheduler = FairScheduler()
    assert scheduler.peek() is None
    assert scheduler.pop() is None
    assert scheduler.positions() == {}
    assert scheduler.position(1) is None


_op = st.one_of(
    st.tuples(st.just("push"), st.integers(1, 4), st.integers(1, 3), st.integers(1, 10)),
    st.tuples(st.just("pop"), st.just(0), st.just(0), st.just(0)),
    st.tuples(st.just("retry"), st.just(0), st.just(0), st.just(0)),
    st.tuples(st.just("cancel"), st.integers(0, 30), st.just(0), st.just(0)),
)


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(_op, max_size=80))
def test_positions_predict_the_pop_order(ops: list[tuple[str, int, int, int]]) -> None:
    scheduler = FairScheduler()
    popped: list[QueuedJob] = []
    pushed: list[QueuedJob] = []
    for op, a, b, c in ops:
        if op == "push":
            pushed.append(job(a, user=b, images=c))
            scheduler.push(pushed[-1])
        elif op == "pop":
            peeked = scheduler.peek()
            assert scheduler.pop() == peeked
            if peeked is not None:
                popped.append(peeked)
        elif op == "retry" and popped:
            scheduler.push_front(popped.pop())
        elif op == "cancel" and pushed:
            scheduler.remove(pushed[a % len(pushed)].job_id)
    positions = scheduler.positions()
    order = []
    while (peeked := scheduler.peek()) is not None:
        assert scheduler.pop() == peeked
        order.append(peeked.job_id)
    assert positions == {job_id: place for place, job_id in enumerate(order, start=1)}
