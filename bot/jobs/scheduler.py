"""Fair job order: deficit round robin across guilds by images; members take turns; FIFO each."""

from __future__ import annotations

from collections import OrderedDict, deque
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


class _Guild:
    """One guild's queue: members in turn order, each with a FIFO of jobs, and its DRR credit."""

    __slots__ = ("deficit", "members", "size")

    def __init__(self) -> None:
        self.members: OrderedDict[int, deque[QueuedJob]] = OrderedDict()
        self.deficit = 0
        self.size = 0

    def copy(self) -> _Guild:
        clone = _Guild()
        clone.members = OrderedDict((uid, deque(q)) for uid, q in self.members.items())
        clone.deficit = self.deficit
        clone.size = self.size
        return clone

    def head(self) -> QueuedJob:
        return next(iter(self.members.values()))[0]

    def put(self, job: QueuedJob) -> None:
        self.members.setdefault(job.user_id, deque()).append(job)
        self.size += 1

    def put_front(self, job: QueuedJob) -> None:
        self.members.setdefault(job.user_id, deque()).appendleft(job)
        self.members.move_to_end(job.user_id, last=False)
        self.size += 1

    def take(self) -> QueuedJob:
        user_id, queue = next(iter(self.members.items()))
        job = queue.popleft()
        if queue:
            self.members.move_to_end(user_id)  # this member had its turn
        else:
            del self.members[user_id]
        self.size -= 1
        return job

    def discard(self, job: QueuedJob) -> None:
        queue = self.members[job.user_id]
        queue.remove(job)
        if not queue:
            del self.members[job.user_id]
        self.size -= 1


class FairScheduler:
    """Deficit round robin across guilds by images; within a guild members take turns; FIFO each.

    Each round every guild with queued jobs earns one image of credit (quantum 1) and sends its head
    job once its credit covers the job's images, at most one job per visit. So backlogged guilds get
    equal images, not equal jobs (an n=4 job costs its guild four rounds, as four n=1 jobs cost
    another), and a guild that starts queueing a 1-image job waits at most one job per other busy
    guild. Rounds in which nobody can send are skipped arithmetically: a pop costs O(guilds).
    """

    def __init__(self) -> None:
        self._guilds: dict[int, _Guild] = {}
        # Guilds with queued jobs in visiting order; _ring[0] is visited next.
        self._ring: deque[int] = deque()
        self._jobs: dict[int, QueuedJob] = {}

    def push(self, job: QueuedJob) -> None:
        """Queue a job at the tail of its member's queue (restarts push in job_id order)."""
        self._guild_for(job).put(job)
        self._jobs[job.job_id] = job

    def push_front(self, job: QueuedJob) -> None:
        """Put a popped job back (after a 429) so that it is dispatched next, uncharged.

        It goes to the head of its member's queue, its member to the head of the guild's turns and
        its guild to the head of the round. Its pop took n images of credit and the visit it gets
        back will add one, so n - 1 is refunded: the guild ends where a successful pop left it.
        """
        guild = self._guild_for(job)
        guild.put_front(job)
        guild.deficit += job.images - 1
        self._ring.remove(job.guild_id)
        self._ring.appendleft(job.guild_id)
        self._jobs[job.job_id] = job

    def peek(self) -> QueuedJob | None:
        """The job `pop` would return, without changing anything."""
        plan = self._plan()
        return None if plan is None else self._guilds[self._ring[plan[0]]].head()

    def pop(self) -> QueuedJob | None:
        """Take the next job in fair order, or None when nothing is queued."""
        plan = self._plan()
        if plan is None:
            return None
        winner, rounds = plan
        ring = self._ring
        # Guilds before the winner were visited `rounds` times without sending; those after it
        # have had one visit fewer, their last one of this round is still to come.
        for index, guild_id in enumerate(ring):
            if index != winner:
                self._guilds[guild_id].deficit += rounds if index < winner else rounds - 1
        guild_id = ring[winner]
        guild = self._guilds[guild_id]
        job = guild.take()
        guild.deficit += rounds - job.images
        ring.rotate(-(winner + 1))  # the winner's visit is over: it goes to the end
        if not guild.size:
            ring.pop()  # an emptied guild leaves the round and loses its credit
            del self._guilds[guild_id]
        del self._jobs[job.job_id]
        return job

    def remove(self, job_id: int) -> QueuedJob | None:
        """Cancel a queued job; None when it is not queued."""
        job = self._jobs.pop(job_id, None)
        if job is None:
            return None
        guild = self._guilds[job.guild_id]
        guild.discard(job)
        if not guild.size:
            self._ring.remove(job.guild_id)
            del self._guilds[job.guild_id]
        return job

    def positions(self) -> dict[int, int]:
        """job_id -> 1-based dispatch order if nothing else arrives."""
        return {job.job_id: place for place, job in enumerate(self.jobs(), start=1)}

    def position(self, job_id: int) -> int | None:
        """One job's 1-based dispatch order, or None when it is not queued."""
        if job_id not in self._jobs:
            return None
        clone = self._clone()
        place = 1
        while (job := clone.pop()) is not None and job.job_id != job_id:
            place += 1
        return place

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def guild_length(self, guild_id: int) -> int:
        guild = self._guilds.get(guild_id)
        return guild.size if guild else 0

    def member_length(self, guild_id: int, user_id: int) -> int:
        guild = self._guilds.get(guild_id)
        queue = guild.members.get(user_id) if guild else None
        return len(queue) if queue else 0

    def jobs(self) -> list[QueuedJob]:
        """Every queued job, in the order they would be dispatched if nothing else arrives."""
        clone = self._clone()
        order: list[QueuedJob] = []
        while (job := clone.pop()) is not None:
            order.append(job)
        return order

    def _guild_for(self, job: QueuedJob) -> _Guild:
        if job.images < 1:
            raise ValueError(f"job {job.job_id} asks for {job.images} images")
        if job.job_id in self._jobs:
            raise ValueError(f"job {job.job_id} is already queued")
        guild = self._guilds.get(job.guild_id)
        if guild is None:
            guild = self._guilds[job.guild_id] = _Guild()
            self._ring.append(job.guild_id)  # joins after every guild already in the round
        return guild

    def _plan(self) -> tuple[int, int] | None:
        """(ring index of the guild that sends next, rounds of credit until it can), or None."""
        best: tuple[int, int] | None = None
        for index, guild_id in enumerate(self._ring):
            guild = self._guilds[guild_id]
            rounds = max(1, guild.head().images - guild.deficit)
            if best is None or rounds < best[1]:
                best = (index, rounds)
                if rounds == 1:
                    break  # nobody later in the ring can beat sending on this visit
        return best

    def _clone(self) -> FairScheduler:
        clone = FairScheduler()
        clone._guilds = {gid: guild.copy() for gid, guild in self._guilds.items()}
        clone._ring = deque(self._ring)
        clone._jobs = dict(self._jobs)
        return clone
