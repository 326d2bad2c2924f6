"""One guild's queued jobs: members take turns, FIFO each, kept by level for cheap positions."""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """What the scheduler needs to know about a queued job."""

    job_id: int
    guild_id: int
    user_id: int
    images: int
    tokens: int
    splittable: bool = False  # may go out in several requests (a generation of n > 1)


class Level:
    """The l-th job of every member with more than l queued, in turn order.

    Kept sorted by the members' turn keys, so that finding a member's job in it is a bisect and
    walking the guild's order back from its last job never passes over members without one.
    """

    __slots__ = ("excess", "jobs", "turns")

    def __init__(self) -> None:
        self.turns: list[int] = []  # the members' turn keys, ascending
        self.jobs: list[QueuedJob] = []  # jobs[i] belongs to the member with turn key turns[i]
        self.excess = 0  # sum of (images - 1) over the level's jobs

    def index(self, turn: int) -> int:
        """Where the member with turn key `turn` is, or would go, in this level."""
        return bisect_left(self.turns, turn)

    def add(self, turn: int, job: QueuedJob) -> None:
        index = self.index(turn)
        self.turns.insert(index, turn)
        self.jobs.insert(index, job)
        self.excess += job.images - 1

    def remove(self, turn: int) -> QueuedJob:
        index = self.index(turn)
        del self.turns[index]
        job = self.jobs.pop(index)
        self.excess -= job.images - 1
        return job

    def excess_before(self, index: int) -> int:
        """Images beyond one each of the level's first `index` jobs; walks the shorter side."""
        if not self.excess:
            return 0  # the usual case: single-image jobs
        jobs = self.jobs
        if index <= len(jobs) // 2:
            return sum(job.images - 1 for job in jobs[:index])
        return self.excess - sum(job.images - 1 for job in jobs[index:])


class GuildQueue:
    """One guild's queue: members in turn order, each with a FIFO of jobs, and its DRR credit.

    The guild sends its members' first jobs in turn order, then their second jobs, and so on
    (a member whose turn is over goes to the back): `levels[l]` holds every member's l-th job.
    Turn order is a key per member (a new member or one whose turn is over gets a key above
    all others, a job put back at the front one below), so that each level stays sorted by
    key. A job's place in the guild's order then costs O(levels + log members) and the jobs
    sent after a given round cost what is returned; a pop costs O(member's jobs x members).
    """

    __slots__ = ("_first", "_last", "deficit", "excess", "levels", "members", "size", "turns")

    def __init__(self) -> None:
        self.members: dict[int, deque[QueuedJob]] = {}
        self.turns: dict[int, int] = {}  # user_id -> turn key; lower keys take their turn first
        self.levels: list[Level] = []
        self.deficit = 0
        self.size = 0
        self.excess = 0  # sum of (images - 1) over the guild's jobs
        self._first = 0  # the lowest turn key handed out so far
        self._last = 0  # the highest

    def head(self) -> QueuedJob:
        return self.levels[0].jobs[0]

    def put(self, job: QueuedJob) -> None:
        queue = self.members.get(job.user_id)
        if queue is None:
            queue = self.members[job.user_id] = deque()
            self._to_back(job.user_id)
        queue.append(job)
        self._add(len(queue) - 1, self.turns[job.user_id], job)

    def put_front(self, job: QueuedJob) -> None:
        queue = self.members.setdefault(job.user_id, deque())
        self._lift(job.user_id)
        queue.appendleft(job)
        self._first -= 1
        self.turns[job.user_id] = self._first
        self._lay(job.user_id)

    def take(self) -> QueuedJob:
        job = self.head()
        self._lift(job.user_id)
        queue = self.members[job.user_id]
        queue.popleft()
        if queue:
            self._to_back(job.user_id)  # this member had its turn
            self._lay(job.user_id)
        else:
            self._forget(job.user_id)
        return job

    def discard(self, job: QueuedJob) -> None:
        self._lift(job.user_id)
        queue = self.members[job.user_id]
        del queue[queue.index(job)]
        if queue:
            self._lay(job.user_id)  # same turn key: the member keeps its turn
        else:
            self._forget(job.user_id)

    def place(self, job: QueuedJob) -> tuple[int, int]:
        """(1-based place in the guild's order, its dispatch round counted from now)."""
        queue = self.members[job.user_id]
        level = len(queue) - 1 if queue[-1] is job else queue.index(job)
        jobs, extra = self._ahead(level, self.levels[level].index(self.turns[job.user_id]))
        place, extra = jobs + 1, extra + job.images - 1
        return place, place + max(0, extra - self.deficit)

    def _ahead(self, level: int, index: int) -> tuple[int, int]:
        """(jobs, their images beyond one each) ahead of levels[level].jobs[index].

        Counts from the nearer end of the levels: a new job is a member's last, in the top
        level or near it, and counting down from the top is then O(1).
        """
        row = self.levels[level]
        if 2 * level < len(self.levels):
            jobs, extra = index, row.excess_before(index)
            for other in self.levels[:level]:
                jobs += len(other.jobs)
                extra += other.excess
            return jobs, extra
        jobs = self.size - (len(row.jobs) - index)
        extra = self.excess - (row.excess - row.excess_before(index))
        for other in self.levels[level + 1 :]:
            jobs -= len(other.jobs)
            extra -= other.excess
        return jobs, extra

    def rounds(self, after: int = 0) -> list[tuple[int, QueuedJob]]:
        """(dispatch round, job) for the guild's jobs sent after round `after`, in order.

        Rounds count this guild's visits from now, if nothing else arrives. A guild with credit
        d sends its m-th job in round m + max(0, E_m - d), E_m being the images beyond one each
        of its first m jobs: one job per visit, and an n-image job waits until credit covers it.
        Walks back from the last job, so the cost is that of the jobs returned.
        """
        if self.excess <= self.deficit:  # credit covers every job: the m-th goes in round m
            tail = self._last_jobs(self.size - max(0, after))
            return list(enumerate(tail, start=self.size - len(tail) + 1))
        found: list[tuple[int, QueuedJob]] = []
        place, extra, deficit = self.size, self.excess, self.deficit
        for level in reversed(self.levels):
            for job in reversed(level.jobs):
                sent = place + max(0, extra - deficit)
                if sent <= after:  # rounds fall going back: everything earlier goes by then
                    found.reverse()
                    return found
                found.append((sent, job))
                place -= 1
                extra -= job.images - 1
        found.reverse()
        return found

    def sent_by(self, round_: int) -> int:
        """How many of the guild's jobs go out in its rounds 1..round_ (see `rounds`)."""
        if round_ <= 0:
            return 0
        if not self.excess:
            return min(self.size, round_)  # one job a round
        return self.size - len(self.rounds(after=round_))

    def _last_jobs(self, count: int) -> list[QueuedJob]:
        """The guild's last `count` jobs (all of them at most), in order."""
        chunks: list[list[QueuedJob]] = []
        for level in reversed(self.levels):
            if count <= 0:
                break
            chunks.append(level.jobs[-count:])  # a copy, the whole level when count exceeds it
            count -= len(level.jobs)
        if len(chunks) == 1:
            return chunks[0]  # the usual case: a few jobs, all in the top level
        return [job for chunk in reversed(chunks) for job in chunk]

    def _to_back(self, user_id: int) -> None:
        self._last += 1
        self.turns[user_id] = self._last

    def _forget(self, user_id: int) -> None:
        del self.members[user_id]
        del self.turns[user_id]

    def _add(self, level: int, turn: int, job: QueuedJob) -> None:
        if level == len(self.levels):
            self.levels.append(Level())
        self.levels[level].add(turn, job)
        self.size += 1
        self.excess += job.images - 1

    def _lay(self, user_id: int) -> None:
        """Put the member's jobs into the levels under its current turn key."""
        turn = self.turns[user_id]
        for level, job in enumerate(self.members[user_id]):
            self._add(level, turn, job)

    def _lift(self, user_id: int) -> None:
        """Take the member's jobs out of the levels (before its jobs or turn key change)."""
        queue = self.members[user_id]
        if not queue:
            return
        turn = self.turns[user_id]
        for level in range(len(queue)):
            job = self.levels[level].remove(turn)
            self.size -= 1
            self.excess -= job.images - 1
        while self.levels and not self.levels[-1].jobs:
            self.levels.pop()  # only top levels can empty: none holds more than the one below
