"""Restart on a real SQLite file: queued jobs resume in order, in-flight ones become unknown."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.db import open_database
from tests.fakes.image_backend import FakeImageBackend, Step
from tests.unit.jobs_harness import (
    START,
    Harness,
    harness,
    input_image,
    make_harness,
    submission,
)

pytestmark = pytest.mark.asyncio


async def queue_five(h: Harness) -> list[int]:
    """One member's five jobs (FIFO for them), the first of which hangs in flight."""
    h.backend.then(Step(hang=True))
    ids = [(await h.service.submit(submission(prompt=f"job {i}"))).job.id for i in range(5)]
    await h.run_until(lambda: h.backend.in_flight == 1)
    return ids


async def check_second_life(
    h: Harness, ids: list[int], backend: FakeImageBackend, *, told_now: bool
) -> None:
    """After the restart: nothing lost, nothing sent twice, nothing charged twice."""
    await h.run_all()
    jobs = {j.id: j for j in await h.jobs()}
    in_flight, *queued = ids
    lost = jobs[in_flight]
    assert (lost.state, lost.charged_micro_usd) == ("unknown", lost.estimated_micro_usd)
    assert [c.request.prompt for c in backend.calls] == [f"job {i}" for i in range(1, 5)]
    assert all(jobs[i].state == "succeeded" for i in queued)
    for job in jobs.values():  # every charge is backed by its ledger rows, exactly once
        rows = await h.ledger(job.id)
        assert job.charged_micro_usd == sum(r.cost_micro_usd for r in rows)
    assert [r.error_code for r in await h.ledger(in_flight)] == ["interrupted"]
    told = [e.kind for e in h.sink.events if e.job.id == in_flight]
    assert told == (["unknown"] if told_now else [])  # told once, by whichever run saw it end


async def test_a_killed_worker_resumes_the_queue_and_never_resends_the_lost_call(
    tmp_path: Path,
) -> None:
    clock = ManualClock(START)
    async with harness(tmp_path, clock=clock, max_in_flight=1, member_queue_limit=0) as first:
        ids = await queue_five(first)
        task = first.lifecycle.dispatcher_task
        assert task is not None
        task.cancel()  # the worker dies mid-flight
        await asyncio.wait({task})
        await first.drain()
        told = [e.kind for e in first.sink.events if e.job.id == ids[0]]
        assert told[-1] == "unknown"  # the dying worker still told the member
    async with harness(tmp_path, clock=clock, max_in_flight=1) as second:
        await check_second_life(second, ids, second.backend, told_now=False)


async def test_a_crash_with_the_job_still_marked_running_is_recovered(tmp_path: Path) -> None:
    """The database as a power cut leaves it: the in-flight job still says 'running'."""
    clock = ManualClock(START)
    crashed = tmp_path / "crashed.sqlite3"
    async with harness(tmp_path, clock=clock, max_in_flight=1, member_queue_limit=0) as first:
        ids = await queue_five(first)
        source = sqlite3.connect(first.db_path)
        with sqlite3.connect(crashed) as copy:
            source.backup(copy)  # a consistent snapshot of the committed state, mid-flight
        source.close()
    with sqlite3.connect(crashed) as check:
        states = [row[0] for row in check.execute("SELECT state FROM jobs ORDER BY id")]
    assert states == ["running", "queued", "queued", "queued", "queued"]
    backend = FakeImageBackend(clock)
    async with open_database(crashed) as db:
        second = make_harness(db, clock, backend, tmp_path, ipm=60, tpm=10**8, max_in_flight=1)
        await second.lifecycle.start()
        try:
            await check_second_life(second, ids, backend, told_now=True)
        finally:
            await second.lifecycle.stop(grace=0)


async def test_queues_of_several_guilds_resume_in_their_order(tmp_path: Path) -> None:
    clock = ManualClock(START)
    async with harness(tmp_path, clock=clock, start=False, member_queue_limit=0) as first:
        for i in range(3):
            await first.service.submit(submission(guild_id=1, user_id=1, prompt=f"A{i}"))
            await first.service.submit(submission(guild_id=2, user_id=2, prompt=f"B{i}"))
    async with harness(tmp_path, clock=clock, max_in_flight=1) as second:
        await second.run_all()
        order = [c.request.prompt for c in second.backend.calls]
        assert [p for p in order if p[0] == "A"] == ["A0", "A1", "A2"]
        assert [p for p in order if p[0] == "B"] == ["B0", "B1", "B2"]
        positions = [e.position for e in second.sink.events if e.kind == "position"]
        assert positions[:6] == [1, 2, 3, 4, 5, 6]  # each recovered job hears its place


async def test_undelivered_results_are_announced_again_after_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(START)
    async with harness(tmp_path, clock=clock) as first:
        shown = await first.service.submit(submission(user_id=1))
        unseen = await first.service.submit(submission(user_id=2))
        await first.run_all()
        await first.service.mark_delivered(shown.job.id, channel_id=1, message_id=2)
    async with harness(tmp_path, clock=clock) as second:
        await second.drain()
        assert [(e.kind, e.job.id) for e in second.sink.events] == [("succeeded", unseen.job.id)]
        assert second.backend.calls == []
        assert len(await second.service.result_files(unseen.job.id)) == 1


async def test_a_job_the_lowered_limits_can_never_send_is_released(tmp_path: Path) -> None:
    clock = ManualClock(START)
    async with harness(tmp_path, clock=clock, start=False, ipm=10) as first:
        edit = submission(n=4, operation="edit", images=(input_image(),))
        never = await first.service.submit(edit)
        split = await first.service.submit(submission(user_id=11, n=4))
    async with harness(tmp_path, clock=clock, ipm=2) as second:  # the operator lowered OPENAI_IPM
        await second.run_all()
        job = await second.job(never.job.id)
        assert (job.state, job.charged_micro_usd, job.error_code) == (
            "failed",
            0,
            "InvalidOptionError",
        )
        # An edit goes whole or not at all; a generation goes in requests that fit instead.
        assert [c.request.options.n for c in second.backend.calls] == [2, 2]
        assert all(c.request.operation == "generate" for c in second.backend.calls)
        made = await second.job(split.job.id)
        assert (made.state, made.charged_images) == ("succeeded", 4)
        assert len(await second.service.result_files(made.id)) == 4


async def test_a_split_job_killed_between_its_requests_owes_only_what_was_sent(
    tmp_path: Path,
) -> None:
    """Count 2 sent as two requests 30 s apart (a burst of 1): the first is answered, the power
    goes before the second is sent; recovery keeps the first image at its real cost, no more."""
    clock = ManualClock(START)
    crashed = tmp_path / "crashed.sqlite3"
    async with harness(tmp_path, clock=clock, ipm=2, burst=1, max_request_images=1) as first:
        admitted = await first.service.submit(submission(n=2, prompt="two foxes"))
        await first.run_until(lambda: len(first.backend.calls) == 1 and not first.backend.in_flight)
        await first.drain()
        assert len(await first.ledger(admitted.job.id)) == 1  # the first answer is settled
        source = sqlite3.connect(first.db_path)
        with sqlite3.connect(crashed) as copy:
            source.backup(copy)  # the committed state: one answer kept, the second not sent
        source.close()
    backend = FakeImageBackend(clock)
    async with open_database(crashed) as db:
        second = make_harness(db, clock, backend, tmp_path, ipm=60, tpm=10**8)
        await second.lifecycle.start()
        try:
            await second.run_all()
            [job] = await second.jobs()
            rows = await second.ledger(job.id)
            assert [r.billing for r in rows] == ["actual"]  # no in-doubt row for the unsent
            assert job.charged_micro_usd == rows[0].cost_micro_usd
            assert (job.state, job.charged_images) == ("succeeded", 1)
            assert backend.calls == []  # nothing sent again
        finally:
            await second.lifecycle.stop(grace=0)


async def test_a_restart_keeps_counting_the_last_minute_against_the_ipm(tmp_path: Path) -> None:
    """Issue 22, case 20: the pacer rebuilds its window from the ledger, so the requests of the
    minute before a restart still count and the provider never answers 429."""
    clock = ManualClock(START)
    backend = FakeImageBackend(clock, latency=1.0, ipm=6)
    options: dict[str, Any] = {"clock": clock, "ipm": 6, "backend": backend}
    options["member_queue_limit"] = 0
    async with harness(tmp_path, **options) as first:
        for i in range(6):
            await first.service.submit(submission(user_id=10 + i, prompt=f"before {i}"))
        await first.run_until(lambda: len(backend.accepted) == 6 and backend.in_flight == 0)
        await first.quiesce()
        assert {j.state for j in await first.jobs()} == {"succeeded"}
    async with harness(tmp_path, **options) as second:
        for i in range(6):
            await second.service.submit(submission(user_id=10 + i, prompt=f"after {i}"))
        await second.run_all()
        assert {j.state for j in await second.jobs()} == {"succeeded"}
    assert backend.limit_violations == 0
    assert len(backend.accepted) == 12
