"""A guild's queue kept by level matches members taking turns, checked against a plain model."""

from __future__ import annotations

import itertools

from hypothesis import given, settings, strategies as st

from bot.jobs.order.turns import GuildQueue, QueuedJob

_ids = itertools.count(1)


class TurnModel:
    """Members in turn order, each a FIFO; the guild sends first jobs, then second jobs..."""

    def __init__(self) -> None:
        self.members: list[tuple[int, list[QueuedJob]]] = []

    def _find(self, user_id: int) -> int | None:
        return next((i for i, (u, _) in enumerate(self.members) if u == user_id), None)

    def put(self, job: QueuedJob) -> None:
        i = self._find(job.user_id)
        if i is None:
            self.members.append((job.user_id, [job]))
        else:
            self.members[i][1].append(job)

    def put_front(self, job: QueuedJob) -> None:
        i = self._find(job.user_id)
        jobs = [] if i is None else self.members.pop(i)[1]
        self.members.insert(0, (job.user_id, [job, *jobs]))

    def take(self) -> QueuedJob:
        user_id, jobs = self.members.pop(0)
        if len(jobs) > 1:
            self.members.append((user_id, jobs[1:]))  # its turn is over: to the back
        return jobs[0]

    def discard(self, job: QueuedJob) -> None:
        i = self._find(job.user_id)
        assert i is not None
        self.members[i][1].remove(job)
        if not self.members[i][1]:
            del self.members[i]

    def order(self) -> list[QueuedJob]:
        depth = max((len(jobs) for _, jobs in self.members), default=0)
        return [jobs[at] for at in range(depth) for _, jobs in self.members if len(jobs) > at]


_op = st.tuples(
    st.sampled_from(["put", "put", "put", "front", "take", "discard"]),
    st.integers(1, 5),  # member
    st.integers(1, 4),  # images
    st.integers(0, 40),  # which queued job to discard
)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(_op, max_size=60), deficit=st.integers(0, 6))
def test_levels_places_and_rounds_follow_members_taking_turns(
    ops: list[tuple[str, int, int, int]], deficit: int
) -> None:
    guild, model = GuildQueue(), TurnModel()
    guild.deficit = deficit
    for op, user_id, images, pick in ops:
        order = model.order()
        if op in ("put", "front"):
            job = QueuedJob(next(_ids), 1, user_id, images, 0)
            (guild.put if op == "put" else guild.put_front)(job)
            (model.put if op == "put" else model.put_front)(job)
        elif op == "take" and order:
            assert guild.head() == order[0]
            assert guild.take() == model.take()
        elif op == "discard" and order:
            guild.discard(order[pick % len(order)])
            model.discard(order[pick % len(order)])
        order = model.order()
        assert [job for level in guild.levels for job in level.jobs] == order
        assert [level.excess for level in guild.levels] == [
            sum(job.images - 1 for job in level.jobs) for level in guild.levels
        ]
        assert (guild.size, guild.excess) == (len(order), sum(j.images - 1 for j in order))
        # The m-th job goes in round m + max(0, E_m - d), E_m: images beyond one of jobs 1..m.
        extra = list(itertools.accumulate(job.images - 1 for job in order))
        sent = [m + max(0, e - deficit) for m, e in enumerate(extra, start=1)]
        for m, job in enumerate(order, start=1):
            assert guild.place(job) == (m, sent[m - 1])
        for after in range(0, len(order) + 2 * deficit + 8, 3):
            later = [(r, job) for r, job in zip(sent, order, strict=True) if r > after]
            assert guild.rounds(after) == later
            assert guild.sent_by(after) == sum(r <= after for r in sent)
