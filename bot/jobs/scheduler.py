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
    """One guild's queue: members in turn order, each with a FIFO of jobs, and its DRR credit.

    The guild sends its members' first jobs in turn order, then their second jobs, and so on
    (a member whose turn is over goes to the back): "level" l holds every member's l-th job.
    Per level it keeps how many jobs it holds and their images beyond one each ("excess"), so
    that a job's place in the guild's order and its dispatch round cost O(levels + members).
    """

    __slots__ = ("deficit", "excess", "level_excess", "level_sizes", "members", "size")

    def __init__(self) -> None:
        self.members: OrderedDict[int, deque[QueuedJob]] = OrderedDict()
        self.deficit = 0
        self.size = 0
        self.excess = 0  # sum of (images - 1) over the guild's jobs
        self.level_sizes: list[int] = []
        self.level_excess: list[int] = []

    def head(self) -> QueuedJob:
        return next(iter(self.members.values()))[0]

    def put(self, job: QueuedJob) -> None:
        queue = self.members.setdefault(job.user_id, deque())
        queue.append(job)
        self._count(queue, len(queue) - 1, 1)

    def put_front(self, job: QueuedJob) -> None:
        queue = self.members.setdefault(job.user_id, deque())
        self._count(queue, 0, -1)
        queue.appendleft(job)
        self._count(queue, 0, 1)
        self.members.move_to_end(job.user_id, last=False)

    def take(self) -> QueuedJob:
        user_id, queue = next(iter(self.members.items()))
        self._count(queue, 0, -1)
        job = queue.popleft()
        self._count(queue, 0, 1)
        if queue:
            self.members.move_to_end(user_id)  # this member had its turn
        else:
            del self.members[user_id]
        return job

    def discard(self, job: QueuedJob) -> None:
        queue = self.members[job.user_id]
        index = queue.index(job)
        self._count(queue, index, -1)
        del queue[index]
        self._count(queue, index, 1)
        if not queue:
            del self.members[job.user_id]

    def _count(self, queue: deque[QueuedJob], start: int, sign: int) -> None:
        """Add (sign 1) or take away (-1) the member's jobs from `start` on in the level tallies."""
        sizes, excess = self.level_sizes, self.level_excess
        for level in range(start, len(queue)):
            if level == len(sizes):
                sizes.append(0)
                excess.append(0)
            extra = queue[level].images - 1
            sizes[level] += sign
            excess[level] += sign * extra
            self.excess += sign * extra
            self.size += sign
        while sizes and not sizes[-1]:
            sizes.pop()
            excess.pop()

    def place(self, job: QueuedJob) -> tuple[int, int]:
        """(1-based place in the guild's order, its dispatch round counted from now)."""
        queue = self.members[job.user_id]
        level = queue.index(job)
        place = sum(self.level_sizes[:level]) + 1
        extra = sum(self.level_excess[:level]) + job.images - 1
        for user_id, other in self.members.items():
            if user_id == job.user_id:
                break
            if len(other) > level:
                place += 1
                extra += other[level].images - 1
        return place, place + max(0, extra - self.deficit)

    def rounds(self, after: int = 0) -> list[tuple[int, QueuedJob]]:
        """(dispatch round, job) for the guild's jobs sent after round `after`, in order.

        Rounds count this guild's visits from now, if nothing else arrives. A guild with credit
        d sends its m-th job in round m + max(0, E_m - d), E_m being the images beyond one each
        of its first m jobs: one job per visit, and an n-image job waits until credit covers it.
        Walks back from the last job, so the cost is that of the jobs returned (plus members
        with fewer jobs passed over on the way).
        """
        found: list[tuple[int, QueuedJob]] = []
        place, extra, deficit = self.size, self.excess, self.deficit
        members = list(self.members.values())
        members.reverse()
        for level in range(len(self.level_sizes) - 1, -1, -1):
            for queue in members:
                if len(queue) <= level:
                    continue
                sent = place + max(0, extra - deficit)
                if sent <= after:  # rounds fall going back: everything earlier goes by then
                    found.reverse()
                    return found
                job = queue[level]
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
        """One job's 1-based dispatch order, or None when it is not queued; O(guilds x levels).

        Every guild is visited once a round in ring order, so the jobs before this one are, in
        each guild, those sent in an earlier round, or in the same round by a guild visited
        earlier in it.
        """
        job = self._jobs.get(job_id)
        return None if job is None else self._locate(job)[0]

    def behind(self, job_id: int) -> tuple[int, list[tuple[int, int]]]:
        """A queued job's position, and (job_id, position) of every job behind it, in order.

        Cheap when the job is near the tail (a new job of a member who has as many waiting as
        the others); raises KeyError when the job is not queued.
        """
        job = self._jobs[job_id]
        place, round_ = self._locate(job)
        later: list[tuple[int, int, int]] = []
        before = True  # guilds ahead of the job's guild in the ring
        for ring_index, guild_id in enumerate(self._ring):
            own = guild_id == job.guild_id
            before = before and not own
            after = round_ if before or own else round_ - 1
            guild = self._guilds[guild_id]
            if not guild.excess and guild.size <= after:
                continue  # all of it goes by then (the usual case for a new job at the tail)
            for sent, queued in guild.rounds(after):
                later.append((sent, ring_index, queued.job_id))
        later.sort()
        return place, [(queued_id, place + i) for i, (_, _, queued_id) in enumerate(later, 1)]

    def _locate(self, job: QueuedJob) -> tuple[int, int]:
        """(position, the job's dispatch round in its guild's visits)."""
        place, round_ = self._guilds[job.guild_id].place(job)
        before = True
        for guild_id in self._ring:
            if guild_id == job.guild_id:
                before = False
                continue
            place += self._guilds[guild_id].sent_by(round_ if before else round_ - 1)
        return place, round_

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
        keyed = [
            (sent, ring_index, job)
            for ring_index, guild_id in enumerate(self._ring)
            for sent, job in self._guilds[guild_id].rounds()
        ]
        keyed.sort(key=lambda item: (item[0], item[1]))
        return [job for _, _, job in keyed]

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
