"""The in-memory queue: the fair scheduler, the records of queued jobs, and position events."""

from __future__ import annotations

from collections.abc import Iterable

from bot.jobs.events import EventBus, JobEvent, PaceReason, Pacing
from bot.jobs.order.scheduler import FairScheduler, QueuedJob
from bot.jobs.split import max_requests
from bot.records import JobRecord

# A job far back hears of a new place once it moved by a tenth of the one it was last told (every
# move in the last 19 places): in a long queue each admission elsewhere shifts many jobs back by
# one, and telling each of them, each time, would cost more than the admissions themselves.
POSITION_STEP = 10
# A wait shorter than this is not worth a status edit (Discord's edits are rate-limited).
PACED_NOTICE = 5.0


def queued_job(job: JobRecord) -> QueuedJob:
    splittable = max_requests(job.operation, job.n) > 1
    return QueuedJob(job.id, job.guild_id, job.user_id, job.n, job.estimated_tokens, splittable)


class JobQueue:
    """Queued jobs in fair dispatch order; tells the sink whenever a job's place changes.

    The database says which jobs are queued; this is the order in which they go, rebuilt from
    the database at start-up. A job gets a "position" event when its place changed, far back in
    the queue only once it changed by a tenth (see POSITION_STEP); `position` is always exact.
    A push (admission, the frequent change) looks only at the jobs behind the new one, which
    are few while members take turns; pops, cancels and retries renumber the whole queue.
    """

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._scheduler = FairScheduler()
        self._records: dict[int, JobRecord] = {}
        self._announced: dict[int, int] = {}
        self._paced: dict[int, PaceReason] = {}  # the head job, and the wait it was told of
        # Ids pushed and taken out since a mirror last looked (bot/cluster/sync.py); None until
        # one watches, so a lone process keeps no such sets.
        self._arrived: set[int] | None = None
        self._departed: set[int] = set()

    def __len__(self) -> int:
        return len(self._scheduler)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._records

    def ids(self) -> set[int]:
        """The ids of the queued jobs."""
        return set(self._records)

    def watch(self) -> None:
        """Keep the ids that arrive and leave from now on, for `changes` (a mirror's sync)."""
        if self._arrived is None:
            self._arrived = set()

    def changes(self) -> tuple[set[int], set[int]]:
        """The ids pushed and the ids taken out since the last call (after `watch`)."""
        arrived, departed = self._arrived or set(), self._departed
        if self._arrived is not None:
            self._arrived, self._departed = set(), set()
        return arrived, departed

    def _arrive(self, job: JobRecord) -> None:
        self._scheduler.push(queued_job(job))
        self._records[job.id] = job
        if self._arrived is not None:
            self._arrived.add(job.id)

    def _depart(self, job_id: int) -> JobRecord:
        if self._arrived is not None:
            self._departed.add(job_id)
        return self._records.pop(job_id)

    def push(self, job: JobRecord) -> int:
        """Queue a new job at the back of its member's line; returns its position.

        Its own position goes out with its "queued" event, so it gets no "position" event.
        A job the cluster's mirror (bot/cluster/sync.py) read from the database before its
        admission got here is queued already: its place is returned, nothing is added.
        """
        if job.id in self._records:
            place = self._scheduler.position(job.id)
            assert place is not None  # every record's job is in the scheduler
            return place
        self._arrive(job)
        place, behind = self._scheduler.behind(job.id)
        self._announced[job.id] = place
        self._announce(behind)
        return place

    def restore(self, jobs: Iterable[JobRecord]) -> None:
        """Queue jobs recovered at start-up in the given (id) order; each hears its position."""
        for job in jobs:
            if job.id not in self._records:
                self._arrive(job)
        self._publish()

    def mirror(self, jobs: Iterable[JobRecord]) -> None:
        """Queue jobs another process admitted (bot/cluster/sync.py), in the given (id) order.

        Their members heard a place in that process's reply, so a job's first place here is not
        told again (one status edit per job saved); later moves are told as for any job.
        """
        for job in jobs:
            if job.id not in self._records:
                self._arrive(job)
                # As a push: only the jobs behind it moved (few while members take turns),
                # not a renumbering of a queue thousands deep four times a second.
                place, behind = self._scheduler.behind(job.id)
                self._announced[job.id] = place
                self._announce(behind)

    def push_front(self, job: JobRecord) -> None:
        """Put a job back as its guild's next one (after a 429 or an interrupted dispatch)."""
        if job.id in self._records:
            return
        self._scheduler.push_front(queued_job(job))
        self._records[job.id] = job
        if self._arrived is not None:
            self._arrived.add(job.id)
        self._publish()

    def peek(self) -> QueuedJob | None:
        return self._scheduler.peek()

    def announce_wait(self, job_id: int, reason: PaceReason, seconds: float) -> None:
        """Tell the job next in line why it waits (once per reason, from PACED_NOTICE s on)."""
        if seconds < PACED_NOTICE or self._paced.get(job_id) == reason:
            return
        job = self._records.get(job_id)
        if job is None:
            return
        self._paced = {job_id: reason}
        pacing = Pacing(reason, seconds)
        self._bus.emit(JobEvent("position", job, position=1, pacing=pacing))

    def pop(self) -> JobRecord | None:
        taken = self._scheduler.pop()
        if taken is None:
            return None
        job = self._depart(taken.job_id)
        self._paced.pop(job.id, None)
        self._publish()
        return job

    def remove(self, job_id: int) -> JobRecord | None:
        if self._scheduler.remove(job_id) is None:
            return None
        job = self._depart(job_id)
        self._publish()
        return job

    def remove_all(self, job_ids: Iterable[int]) -> None:
        """Take out several jobs (another process started or cancelled them), renumbering the
        queue once rather than once per job."""
        removed = False
        for job_id in job_ids:
            if self._scheduler.remove(job_id) is not None:
                self._depart(job_id)
                removed = True
        if removed:
            self._publish()

    def position(self, job_id: int) -> int | None:
        return self._scheduler.position(job_id)

    def guild_length(self, guild_id: int) -> int:
        return self._scheduler.guild_length(guild_id)

    def member_length(self, guild_id: int, user_id: int) -> int:
        return self._scheduler.member_length(guild_id, user_id)

    def ordered(
        self, guild_id: int | None = None, user_id: int | None = None
    ) -> list[tuple[JobRecord, int]]:
        """Queued jobs with their positions, next first, optionally of one guild or member."""
        result: list[tuple[JobRecord, int]] = []
        for place, job in enumerate(self._scheduler.jobs(), start=1):
            if guild_id is not None and job.guild_id != guild_id:
                continue
            if user_id is not None and job.user_id != user_id:
                continue
            result.append((self._records[job.job_id], place))
        return result

    def _publish(self) -> None:
        positions = self._scheduler.positions()
        for job_id in self._announced.keys() - positions.keys():
            del self._announced[job_id]
        self._announce(positions.items())

    def _announce(self, positions: Iterable[tuple[int, int]]) -> None:
        """Tell each job its place when worth it: the first time, then once it moved by a tenth
        of the place it was last told, at least one (POSITION_STEP). Runs for every job behind
        each admission, so the rule is written inline."""
        announced = self._announced
        for job_id, place in positions:
            told = announced.get(job_id)
            if told is None or abs(place - told) >= (told // POSITION_STEP or 1):
                announced[job_id] = place
                self._bus.emit(JobEvent("position", self._records[job_id], position=place))
