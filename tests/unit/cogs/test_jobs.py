"""/job and /queue callbacks: what the job service is asked and what the member reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot.errors import JobNotFoundError
from bot.records import JobRecord, RelaxedJob, StoredFile
from cogs.jobs import Jobs
from tests.unit.cogs.fakes import ALICE, BOB, GUILD, bot_with, interaction, job, run


@dataclass
class FakeJobService:
    """The reads /job and /queue make; records who asked for which member's queue."""

    jobs: dict[int, JobRecord] = field(default_factory=dict)
    positions: dict[int, int] = field(default_factory=dict)
    relaxed: list[RelaxedJob] = field(default_factory=list)
    queue_asked: list[tuple[int, int | None]] = field(default_factory=list)
    files_asked: list[int] = field(default_factory=list)

    async def get(self, job_id: int, *, guild_id: int) -> JobRecord:
        found = self.jobs.get(job_id)
        if found is None or found.guild_id != guild_id:
            raise JobNotFoundError(job_id)
        return found

    async def result_files(self, job_id: int) -> list[StoredFile]:
        self.files_asked.append(job_id)
        return []

    def position(self, job_id: int) -> int | None:
        return self.positions.get(job_id)

    async def queued_for(self, guild_id: int, user_id: int | None) -> list[tuple[JobRecord, int]]:
        self.queue_asked.append((guild_id, user_id))
        mine = [j for j in self.jobs.values() if user_id is None or j.user_id == user_id]
        return [(j, self.positions[j.id]) for j in mine if j.id in self.positions]

    async def relaxed_for(self, guild_id: int, user_id: int | None) -> list[RelaxedJob]:
        return [r for r in self.relaxed if user_id is None or r.job.user_id == user_id]

    def queue_length(self, guild_id: int) -> int:
        return len(self.positions)


@dataclass
class FakeServices:
    jobs: FakeJobService


def cog(service: FakeJobService) -> tuple[Jobs, FakeServices]:
    services = FakeServices(jobs=service)
    return Jobs(bot_with(services)), services


def queue_of_two() -> FakeJobService:
    return FakeJobService(
        jobs={7: job(7, user=ALICE, prompt="a fox"), 8: job(8, user=BOB, prompt="a heron")},
        positions={7: 1, 8: 2},
    )


async def test_job_shows_a_queued_job_privately_with_its_position() -> None:
    jobs, services = cog(queue_of_two())
    seen, fake = interaction(services, user=ALICE)
    await run(jobs.job, jobs, seen, id=7)
    [reply] = fake.response.replies
    assert reply.ephemeral and reply.content is not None
    assert reply.content.startswith("**#7** queued (position 1)")
    assert "up to $0.053" in reply.content and "a fox" in reply.content


async def test_job_of_another_member_is_not_found_unless_asked_by_a_moderator() -> None:
    jobs, services = cog(queue_of_two())
    seen, fake = interaction(services, user=ALICE)
    with pytest.raises(JobNotFoundError):  # the same answer as for a job that does not exist
        await run(jobs.job, jobs, seen, id=8)
    assert fake.response.replies == [] and services.jobs.files_asked == []

    seen, fake = interaction(services, user=ALICE, moderator=True)
    await run(jobs.job, jobs, seen, id=8)
    [reply] = fake.response.replies
    assert reply.ephemeral and reply.content is not None and "a heron" in reply.content


async def test_queue_lists_only_the_members_jobs_with_a_cancel_button_each() -> None:
    jobs, services = cog(queue_of_two())
    seen, fake = interaction(services, user=ALICE)
    await run(jobs.queue, jobs, seen)
    assert services.jobs.queue_asked == [(GUILD, ALICE)]
    [reply] = fake.response.replies
    assert reply.ephemeral and reply.content is not None
    head, *lines = reply.content.splitlines()
    assert head == "2 jobs queued in this server."
    assert len(lines) == 1 and lines[0].startswith("**#7** queued (position 1)")
    assert reply.view is not None
    buttons = [item.to_component_dict() for item in reply.view.children]
    assert [b.get("label") for b in buttons] == ["Cancel #7"]


async def test_queue_shows_a_moderator_everyones_jobs_with_their_owners() -> None:
    jobs, services = cog(queue_of_two())
    seen, fake = interaction(services, user=ALICE, moderator=True)
    await run(jobs.queue, jobs, seen)
    assert services.jobs.queue_asked == [(GUILD, None)]
    [reply] = fake.response.replies
    assert reply.content is not None
    assert [line.rsplit(" · ", 1)[1] for line in reply.content.splitlines()[1:]] == [
        f"<@{ALICE}>",
        f"<@{BOB}>",
    ]


async def test_queue_with_nothing_waiting_says_so_without_buttons() -> None:
    jobs, services = cog(FakeJobService())
    seen, fake = interaction(services, user=ALICE)
    await run(jobs.queue, jobs, seen)
    [reply] = fake.response.replies
    assert reply.content == "0 jobs queued in this server.\nYou have no jobs waiting."
    assert reply.ephemeral and reply.view is None
