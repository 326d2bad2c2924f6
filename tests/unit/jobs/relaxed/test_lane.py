"""The relaxed lane on a manual clock: gathering, backoff, settlement, cancel, crash recovery."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from bot.catalog.pricing import cost_of, estimate
from bot.clock import ManualClock
from bot.domain import apply_style
from bot.errors import (
    BatchNotRunError,
    JobNotCancellableError,
    PromptRejectedError,
    UpstreamUnavailableError,
)
from bot.jobs.relaxed.lane import RelaxedTiming
from bot.store import batches as batch_store
from bot.store.safety import Style, put_style
from tests.fakes.batch_backend import FakeBatchesClient
from tests.fakes.openai_rules import ApiError
from tests.unit.jobs_harness import START, Harness, harness, input_image, submission

pytestmark = pytest.mark.asyncio
TIMING = RelaxedTiming(window=5.0, max_batch_images=6, first_poll=2.0, poll_factor=2.0,
                       max_poll=16.0)  # fmt: skip


async def relaxed(h: Harness, mode: str = "allowed") -> None:
    await h.guilds.update_config(1, changed_by=1, relaxed=mode)


def fake(h: Harness) -> FakeBatchesClient:
    assert h.batches is not None
    return h.batches


async def test_jobs_within_the_window_share_a_batch_per_model_and_endpoint(
    tmp_path: Path,
    db_target: Path | str,
) -> None:
    async with harness(tmp_path, database=db_target, relaxed=TIMING) as h:
        await relaxed(h)
        for user in (10, 11):
            await h.service.submit(submission(user_id=user, speed="relaxed"))
        await h.service.submit(submission(user_id=12, speed="relaxed", model="gpt-image-2"))
        await h.service.submit(submission(user_id=13, speed="relaxed", operation="edit",
                                          images=(input_image(),)))  # fmt: skip
        await h.run_for(4.0)
        assert fake(h).state.batches == {}  # still inside the gathering window
        await h.run_all()
        groups = sorted(sorted(b.custom_ids) for b in fake(h).state.batches.values())
        assert groups == [["job-1", "job-2"], ["job-3"], ["job-4"]]
        assert [j.state for j in await h.jobs()] == ["succeeded"] * 4
        assert h.backend.calls == []  # nothing went to the synchronous endpoint


async def test_the_size_cap_closes_a_batch_at_once(tmp_path: Path, db_target: Path | str) -> None:
    async with harness(tmp_path, database=db_target, relaxed=TIMING, guild_queue_limit=0,
                       member_queue_limit=0) as h:  # fmt: skip
        await relaxed(h)
        await h.guilds.update_limits(1, changed_by=1, max_count=4)
        for _ in range(4):
            await h.service.submit(submission(speed="relaxed", n=3))
        for _ in range(6):  # 3 s, well inside the 5 s window: the cap of 6 images closes them
            await h.run_for(0.5)
        rows = await h.db.fetchall(
            "SELECT batch_id, COUNT(*) FROM batch_jobs GROUP BY batch_id ORDER BY batch_id"
        )
        assert [row[1] for row in rows] == [2, 2]
        assert h.clock.monotonic() < TIMING.window


async def test_lines_past_the_input_files_byte_cap_wait_for_the_next_batch(
    tmp_path: Path,
    db_target: Path | str,
) -> None:
    """The Batch API takes input files up to 200 MB; a gathering of big photos must not fail
    every job in it (issue 22, case 16): the lines that would pass the cap go in a later batch."""
    capped = RelaxedTiming(window=5.0, max_batch_images=6, first_poll=2.0, poll_factor=2.0,
                           max_poll=16.0, max_input_bytes=900)  # fmt: skip
    async with harness(tmp_path, database=db_target, relaxed=capped) as h:
        await relaxed(h)
        for user in (10, 11, 12):  # each line is ~410 bytes: two fit in 900
            await h.service.submit(submission(user_id=user, speed="relaxed", operation="edit",
                                              images=(input_image(20, 20),)))  # fmt: skip
        await h.run_all()
        batches = list(fake(h).state.batches.values())
        assert sorted(sorted(b.custom_ids) for b in batches) == [["job-1", "job-2"], ["job-3"]]
        sizes = [len(fake(h).state.files[b.input_file_id][2]) for b in batches]
        assert all(size <= 900 for size in sizes), sizes
        assert [j.state for j in await h.jobs()] == ["succeeded"] * 3


async def test_a_relaxed_job_is_reserved_at_the_batch_price_beyond_the_ipm(
    tmp_path: Path,
    db_target: Path | str,
) -> None:
    async with harness(tmp_path, database=db_target, relaxed=TIMING, ipm=1) as h:
        await relaxed(h)
        await h.guilds.update_limits(1, changed_by=1, max_count=4)
        admitted = await h.service.submit(submission(speed="relaxed", n=4, quality="low"))
        spec = h.catalog.get("gpt-image-1")
        batch_price = estimate(spec, admitted.job.options, prompt="a red fox", relaxed=True)
        assert admitted.estimate == batch_price
        assert admitted.job.charged_micro_usd == batch_price.micro_usd
        fast = estimate(spec, admitted.job.options, prompt="a red fox")
        assert batch_price.micro_usd * 2 <= fast.micro_usd + 2
        await h.run_all()
        job = await h.job(admitted.job.id)
        [row] = await h.ledger(job.id)
        assert (job.state, job.charged_images, row.speed) == ("succeeded", 4, "relaxed")
        assert job.charged_micro_usd == row.cost_micro_usd == cost_of(spec, row.usage, relaxed=True)
        assert row.fast_cost_micro_usd == cost_of(spec, row.usage)


async def test_polls_back_off_until_the_batch_ends(tmp_path: Path, db_target: Path | str) -> None:
    async with harness(tmp_path, database=db_target, relaxed=TIMING) as h:
        await relaxed(h)
        fake(h).state.batch_seconds = 100.0
        retrieved: list[float] = []
        original = fake(h).retrieve

        async def timed(batch_id: str) -> Any:
            retrieved.append(h.clock.monotonic())
            return await original(batch_id)

        fake(h).retrieve = timed  # type: ignore[method-assign]
        await h.service.submit(submission(speed="relaxed"))
        await h.run_all()
        gaps = [round(b - a) for a, b in itertools.pairwise(retrieved)]
        assert gaps[:4] == [2, 4, 8, 16] and set(gaps[4:]) <= {16}  # capped at max_poll
        assert len(retrieved) < 15


async def test_a_gathering_job_can_be_cancelled_but_not_once_in_a_batch(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, relaxed=TIMING) as h:
        await relaxed(h)
        first = (await h.service.submit(submission(speed="relaxed"))).job
        second = (await h.service.submit(submission(user_id=11, speed="relaxed"))).job
        cancelled = await h.service.cancel(first.id, guild_id=1, user_id=10, is_moderator=False)
        assert (cancelled.state, cancelled.charged_micro_usd) == ("cancelled", 0)
        fake(h).state.hold = True
        for _ in range(12):  # gathered at 5 s, submitted, then polled
            await h.run_for(1.0)
        with pytest.raises(JobNotCancellableError, match="relaxed batch"):
            await h.service.cancel(second.id, guild_id=1, user_id=11, is_moderator=False)
        [batch] = fake(h).state.batches.values()
        assert batch.custom_ids == [f"job-{second.id}"]
        waiting = await h.service.relaxed_for(1)
        assert [(w.job.id, w.batch_status) for w in waiting] == [(second.id, "in_progress")]


async def test_refused_and_failed_lines_are_charged_nothing(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, relaxed=TIMING) as h:
        await relaxed(h)
        fake(h).state.fail_next_lines(1)
        failed = (await h.service.submit(submission(speed="relaxed", prompt="one"))).job
        blocked = submission(user_id=11, speed="relaxed", prompt="MODERATION_BLOCK two")
        refused = (await h.service.submit(blocked)).job
        await h.run_all()
        jobs = {j.id: j for j in await h.jobs()}
        assert {jobs[failed.id].state, jobs[refused.id].state} == {"failed"}
        assert jobs[failed.id].charged_micro_usd == jobs[refused.id].charged_micro_usd == 0
        [event] = [e for e in h.sink.of("failed") if e.job.id == refused.id]
        assert isinstance(event.error, PromptRejectedError)
        assert [r.error_code for r in await h.ledger(refused.id)] == ["moderation_blocked"]


async def test_a_batch_failing_validation_releases_its_jobs(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, relaxed=TIMING) as h:
        await relaxed(h)
        fake(h).fail_next = [ApiError(400, "invalid_value", "bad file", param="file")]
        job = (await h.service.submit(submission(speed="relaxed"))).job
        await h.run_all()
        done = await h.job(job.id)
        assert (done.state, done.charged_micro_usd) == ("failed", 0)
        [event] = h.sink.of("failed")
        assert isinstance(event.error, BatchNotRunError)


async def test_a_create_whose_answer_failed_is_looked_up_before_creating_again(
    tmp_path: Path,
    db_target: Path | str,
) -> None:
    async with harness(tmp_path, database=db_target, relaxed=TIMING) as h:
        await relaxed(h)
        client = fake(h)
        create = client.create

        async def lost(*args: Any, **kw: Any) -> Any:
            await create(*args, **kw)  # the batch exists at the provider; its answer is lost
            client.create = create  # type: ignore[method-assign]
            raise UpstreamUnavailableError("the answer was lost", maybe_billed=True)

        client.create = lost  # type: ignore[method-assign]
        await h.service.submit(submission(speed="relaxed"))
        await h.run_all()
        assert len(client.state.batches) == 1
        assert "list" in client.calls
        assert [j.state for j in await h.jobs()] == ["succeeded"]


async def test_a_restart_resumes_open_batches_and_gathering_jobs(
    tmp_path: Path, db_target: Path | str
) -> None:
    clock = ManualClock(START)
    async with harness(tmp_path, database=db_target, clock=clock, relaxed=TIMING) as h:
        await relaxed(h)
        client = fake(h)
        client.state.hold = True
        in_batch = (await h.service.submit(submission(speed="relaxed"))).job
        await h.run_for(6.0)  # in a submitted batch
        gathering = (await h.service.submit(submission(user_id=11, speed="relaxed"))).job
        await h.lifecycle.stop(grace=0)  # the process goes away
    async with harness(
        tmp_path, database=db_target, clock=clock, relaxed=TIMING, batches=client
    ) as h:
        assert (await h.job(in_batch.id)).state == "running"  # not marked unknown
        client.state.release()
        await h.run_all()
        jobs = await h.jobs()
        assert [j.state for j in jobs] == ["succeeded", "succeeded"]
        assert sorted(c for b in client.state.batches.values() for c in b.custom_ids) == [
            f"job-{in_batch.id}",
            f"job-{gathering.id}",
        ]
        assert await batch_store.open_batches(h.db) == []


async def test_a_cancelled_batch_delivers_its_finished_lines_and_releases_the_rest(
    tmp_path: Path,
    db_target: Path | str,
) -> None:
    async with harness(tmp_path, database=db_target, relaxed=TIMING) as h:
        await relaxed(h)
        fake(h).state.cancel_next(done_lines=1)
        done = (await h.service.submit(submission(speed="relaxed"))).job
        dropped = (await h.service.submit(submission(user_id=11, speed="relaxed"))).job
        await h.run_all()
        jobs = {j.id: j for j in await h.jobs()}
        assert jobs[done.id].state == "succeeded" and jobs[done.id].charged_micro_usd > 0
        assert (jobs[dropped.id].state, jobs[dropped.id].charged_micro_usd) == ("failed", 0)
        [event] = [e for e in h.sink.of("failed") if e.job.id == dropped.id]
        assert isinstance(event.error, BatchNotRunError) and event.error.status == "cancelled"
        assert [r.error_code for r in await h.ledger(dropped.id)] == ["batch_cancelled"]


async def test_a_broken_disk_during_settlement_is_retried_later_without_settling_twice(
    tmp_path: Path,
    db_target: Path | str,
) -> None:
    async with harness(tmp_path, database=db_target, relaxed=TIMING) as h:
        await relaxed(h)
        save = h.files.save_results
        broken = {"left": 3}
        failed_at: list[float] = []

        async def flaky(*args: Any, **kw: Any) -> Any:
            if broken["left"]:
                broken["left"] -= 1
                failed_at.append(h.clock.monotonic())
                raise OSError("disk full")
            return await save(*args, **kw)

        h.files.save_results = flaky  # type: ignore[method-assign]
        jobs = [(await h.service.submit(submission(user_id=u, speed="relaxed"))).job
                for u in (10, 11)]  # fmt: skip
        await h.run_all()
        assert [j.state for j in await h.jobs()] == ["succeeded", "succeeded"]
        for job in jobs:
            assert len(await h.ledger(job.id)) == 1  # one row each, none written twice
            assert len(await h.service.result_files(job.id)) == 1
        assert fake(h).calls.count("content") == 4  # the output was read again, 3 times
        gaps = [b - a for a, b in itertools.pairwise(failed_at)]
        assert min(gaps) >= TIMING.first_poll  # retried with backoff, not in a tight loop


async def test_a_batch_over_the_enqueued_token_limit_gives_its_jobs_back_for_later(
    tmp_path: Path,
    db_target: Path | str,
) -> None:
    timing = RelaxedTiming(window=5.0, first_poll=2.0, queue_full_retry=600.0)
    async with harness(tmp_path, database=db_target, relaxed=timing) as h:
        await relaxed(h)
        fake(h).state.refuse_next("gpt-image-1")
        job = (await h.service.submit(submission(speed="relaxed"))).job
        for _ in range(30):
            await h.run_for(1.0)
        assert (await h.job(job.id)).state == "queued"  # waiting again, still reserved
        assert (await h.job(job.id)).charged_micro_usd == job.charged_micro_usd
        await h.run_all()
        done = await h.job(job.id)
        assert done.state == "succeeded" and h.clock.monotonic() >= 600
        first, second = fake(h).state.batches.values()
        assert (first.status, second.status) == ("failed", "completed")
        assert first.custom_ids == second.custom_ids == [f"job-{job.id}"]
        assert len(await h.ledger(job.id)) == 1  # the refused batch ran nothing, billed nothing


async def test_a_failing_lookup_while_giving_up_is_retried_with_backoff(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, relaxed=TIMING) as h:
        await relaxed(h)
        client = fake(h)
        bad = ApiError(400, "invalid_value", "bad", param="file")
        down = ApiError(503, None, "down", type_="server_error")
        # The upload is refused; the lookups that would release the jobs fail twice.
        client.fail_next = [bad, down, down]
        listed: list[float] = []
        list_since = client.list_since

        async def timed(after: int) -> Any:
            listed.append(h.clock.monotonic())
            return await list_since(after)

        client.list_since = timed  # type: ignore[method-assign, assignment]
        job = (await h.service.submit(submission(speed="relaxed"))).job
        await h.run_all()
        # Never a tight loop: each lookup waited its backoff; the third worked, found no batch,
        # and the next upload went through.
        assert len(listed) == 3 and min(b - a for a, b in itertools.pairwise(listed)) >= 2.0
        assert (await h.job(job.id)).state == "succeeded"
        assert len(client.state.batches) == 1


async def test_a_line_without_usage_is_charged_its_reservation_and_marked_estimated(
    tmp_path: Path,
    db_target: Path | str,
) -> None:
    async with harness(tmp_path, database=db_target, relaxed=TIMING) as h:
        await relaxed(h)
        fake(h).owner.hide_usage = True
        job = (await h.service.submit(submission(speed="relaxed"))).job
        await h.run_all()
        done = await h.job(job.id)
        [row] = await h.ledger(job.id)
        assert done.state == "succeeded" and row.billing == "estimated"
        assert done.charged_micro_usd == row.cost_micro_usd == job.estimated_micro_usd
        assert row.fast_cost_micro_usd == 2 * job.estimated_micro_usd


async def test_a_relaxed_reservation_counts_the_styles_text(
    tmp_path: Path, db_target: Path | str
) -> None:
    """The batch line carries the styled prompt, so its reservation must price that text too."""
    async with harness(tmp_path, database=db_target, relaxed=TIMING) as h:
        await relaxed(h)
        long_style = "{prompt}, " + "in the manner of an old engraving, " * 28
        async with h.db.transaction() as conn:
            await put_style(conn, 1, Style("Long", long_style, 1, h.clock.now()))
        plain = await h.service.submit(submission(speed="relaxed", quality="low"))
        styled = await h.service.submit(submission(speed="relaxed", quality="low", style="Long"))
        spec = h.catalog.get(styled.job.model)
        sent = apply_style("a red fox", long_style)
        assert styled.estimate == estimate(spec, styled.job.options, prompt=sent, relaxed=True)
        assert styled.estimate.micro_usd > plain.estimate.micro_usd
