"""Fair job order: deficit round robin across guilds by images; members take turns; FIFO each."""

from __future__ import annotations

from collections import deque
from operator import itemgetter

from bot.jobs.order.turns import GuildQueue, QueuedJob

__all__ = ["FairScheduler", "QueuedJob"]


class FairScheduler:
    """Deficit round robin across guilds by images; within a guild members take turns; FIFO each.

    Each round every guild with queued jobs earns one image of credit (quantum 1) and sends its head
    job once its credit covers the job's images, at most one job per visit. So backlogged guilds get
    equal images, not equal jobs (an n=4 job costs its guild four rounds, as four n=1 jobs cost
    another), and a guild that starts queueing a 1-image job waits at most one job per other busy
    guild. Rounds in which nobody can send are skipped arithmetically: a pop costs O(guilds).
    """

    def __init__(self) -> None:
        self._guilds: dict[int, GuildQueue] = {}
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
        the others); raises KeyError when the job is not queued. One pass over the ring finds
        the jobs behind and counts those ahead as `_locate` does: a guild sends all but the
        jobs it sends after the job's round.
        """
        job = self._jobs[job_id]
        place, round_ = self._guilds[job.guild_id].place(job)
        later: list[tuple[int, QueuedJob]] = []  # (round, job), guild by guild in ring order
        before = True  # guilds ahead of the job's guild in the ring
        for guild_id in self._ring:
            own = guild_id == job.guild_id
            before = before and not own
            after = round_ if before or own else round_ - 1
            guild = self._guilds[guild_id]
            if not guild.excess and guild.size <= after:
                sent = guild.size  # all of it by then (the usual case for a new job at the tail)
            else:
                found = guild.rounds(after)
                later += found
                sent = guild.size - len(found)
            if not own:
                place += sent  # the guild's jobs ahead of this one
        if not later:
            return place, []
        later.sort(key=itemgetter(0))  # stable: a round's jobs stay in ring order
        return place, [(queued.job_id, at) for at, (_, queued) in enumerate(later, place + 1)]

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
        keyed = [pair for guild_id in self._ring for pair in self._guilds[guild_id].rounds()]
        keyed.sort(key=itemgetter(0))  # stable: a round's jobs stay in ring order
        return [job for _, job in keyed]

    def _guild_for(self, job: QueuedJob) -> GuildQueue:
        if job.images < 1:
            raise ValueError(f"job {job.job_id} asks for {job.images} images")
        if job.job_id in self._jobs:
            raise ValueError(f"job {job.job_id} is already queued")
        guild = self._guilds.get(job.guild_id)
        if guild is None:
            guild = self._guilds[job.guild_id] = GuildQueue()
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
