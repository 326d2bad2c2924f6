"""Every way a job ends leaves its state, charge and billing agreeing with its ledger rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.db import open_database
from bot.errors import InvalidRequestError
from bot.jobs.relaxed.lane import RelaxedTiming
from bot.jobs.settle.ending import Endings, least_known
from bot.jobs.settle.settlement import Settlement
from bot.records import JobRecord
from bot.store.ledger import ApiCall
from tests.fakes.batch_backend import FakeBatchesClient
from tests.fakes.image_backend import FakeImageBackend, Step
from tests.unit.jobs.lost_answers import read_timeout_lost
from tests.unit.jobs_harness import START, Harness, catalog, harness, make_harness, submission

pytestmark = pytest.mark.asyncio
TIMING = RelaxedTiming(window=5.0, max_batch_images=6, first_poll=2.0, max_poll=16.0)


async def ended(h: Harness, job_id: int) -> tuple[JobRecord, list[ApiCall]]:
    """The job and its ledger rows, once their charge and billing are checked to agree, and
    the record the member was told about checked to be the stored one."""
    job, rows = await h.job(job_id), await h.ledger(job_id)
    assert job.charged_micro_usd == sum(r.cost_micro_usd for r in rows)
    assert job.billing == least_known(r.billing for r in rows)
    [told] = [e for e in h.sink.events if e.job.id == job_id and e.kind == job.state]
    assert (told.job.state, told.job.charged_micro_usd, told.job.billing) == (
        job.state,
        job.charged_micro_usd,
        job.billing,
    )
    return job, rows


async def relaxed_harness_ready(h: Harness) -> None:
    await h.guilds.update_config(1, changed_by=1, relaxed="allowed")


async def test_a_fast_job_ends_succeeded_at_its_measured_cost(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        admitted = await h.service.submit(submission())
        await h.run_all()
        job, [row] = await ended(h, admitted.job.id)
        assert (job.state, job.billing, row.billing) == ("succeeded", "actual", "actual")
        assert 0 < job.charged_micro_usd <= admitted.job.estimated_micro_usd


@pytest.mark.parametrize(("hidden", "billing"), [(False, "actual"), (True, "estimated")])
async def test_a_relaxed_job_ends_at_the_batch_price_known_as_its_line_says(
    tmp_path: Path, hidden: bool, billing: str
) -> None:
    async with harness(tmp_path, relaxed=TIMING) as h:
        await relaxed_harness_ready(h)
        assert isinstance(h.batches, FakeBatchesClient)
        h.batches.owner.hide_usage = hidden  # a line without `usage`: charged its estimate
        admitted = await h.service.submit(submission(speed="relaxed"))
        await h.run_all()
        job, [row] = await ended(h, admitted.job.id)
        assert (job.state, row.speed, row.billing, job.billing) == (
            "succeeded",
            "relaxed",
            billing,
            billing,
        )
        if hidden:
            assert job.charged_micro_usd == job.estimated_micro_usd


async def test_a_cancelled_job_is_released_with_no_ledger_row(tmp_path: Path) -> None:
    async with harness(tmp_path, max_in_flight=1) as h:
        h.backend.then(Step(hang=True))
        await h.service.submit(submission(user_id=10))
        waiting = await h.service.submit(submission(user_id=11))
        await h.run_until(lambda: h.backend.in_flight == 1)
        await h.service.cancel(waiting.job.id, guild_id=1, user_id=11, is_moderator=False)
        await h.drain()
        job, rows = await ended(h, waiting.job.id)
        assert (job.state, job.charged_micro_usd, job.charged_images) == ("cancelled", 0, 0)
        assert (rows, job.billing) == ([], "actual")


async def test_a_failed_job_is_released_and_its_row_charges_nothing(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.backend.then(Step(error=InvalidRequestError("bad size", status=400, code="bad")))
        admitted = await h.service.submit(submission())
        await h.run_all()
        job, [row] = await ended(h, admitted.job.id)
        assert (job.state, job.charged_micro_usd, job.billing) == ("failed", 0, "actual")
        assert (row.cost_micro_usd, row.error_code) == (0, "bad")


async def test_a_job_whose_answer_was_lost_stays_charged_in_doubt(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.backend.then(Step(error=read_timeout_lost()))
        admitted = await h.service.submit(submission())
        await h.run_all()
        job, [row] = await ended(h, admitted.job.id)
        assert (job.state, job.billing, row.billing) == ("unknown", "in_doubt", "in_doubt")
        assert job.charged_micro_usd == admitted.job.estimated_micro_usd > 0


async def crashed_mid_call(tmp_path: Path, clock: ManualClock) -> tuple[Path, int]:
    """A database as a power cut leaves it: one job still 'running', its call in flight."""
    crashed = tmp_path / "crashed.sqlite3"
    async with harness(tmp_path, clock=clock) as first:
        first.backend.then(Step(hang=True))
        job_id = (await first.service.submit(submission())).job.id
        await first.run_until(lambda: first.backend.in_flight == 1)
        source = sqlite3.connect(first.db_path)
        with sqlite3.connect(crashed) as copy:
            source.backup(copy)
        source.close()
    return crashed, job_id


async def test_a_job_in_flight_at_a_crash_ends_unknown_charged_in_doubt(tmp_path: Path) -> None:
    clock = ManualClock(START)
    crashed, job_id = await crashed_mid_call(tmp_path, clock)
    backend = FakeImageBackend(clock)
    async with open_database(crashed) as db:
        h = make_harness(db, clock, backend, tmp_path, ipm=60, tpm=10**8)
        await h.lifecycle.start()
        try:
            await h.drain()
            job, [row] = await ended(h, job_id)
            assert (job.state, job.billing) == ("unknown", "in_doubt")
            assert (row.error_code, row.billing) == ("interrupted", "in_doubt")
            assert job.charged_micro_usd == job.estimated_micro_usd > 0
            assert backend.calls == []  # never sent again
        finally:
            await h.lifecycle.stop(grace=0)


async def test_recovering_a_job_already_ended_writes_no_second_row(tmp_path: Path) -> None:
    """Two recoveries of the same stale 'running' record (say, two starts racing): one ends
    the job, the other changes nothing, not even the ledger."""
    clock = ManualClock(START)
    crashed, job_id = await crashed_mid_call(tmp_path, clock)
    async with open_database(crashed) as db:
        h = make_harness(db, clock, FakeImageBackend(clock), tmp_path, ipm=60,
                         tpm=10**8)  # fmt: skip
        stale = await h.job(job_id)
        endings = Endings(db=db, files=h.files, clock=clock, bus=h.service._bus)
        settlement = Settlement(db=db, catalog=catalog(), clock=clock, endings=endings)
        await settlement.recover(stale)
        await h.drain()  # the member is told (and that is recorded) before the second recovery
        first = await h.job(job_id)
        await settlement.recover(stale)
        await h.drain()
        assert await h.job(job_id) == first
        [row] = await h.ledger(job_id)
        assert (first.state, row.error_code) == ("unknown", "interrupted")
        assert h.sink.kinds(job_id) == ["unknown"]  # told once
