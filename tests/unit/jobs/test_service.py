"""JobService: settlement of every outcome, cancellation, stop, lookups, re-roll/edit, purge."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from bot.catalog.pricing import cost_of
from bot.errors import (
    InvalidOptionError,
    InvalidRequestError,
    JobNotCancellableError,
    JobNotFoundError,
    PermissionDeniedError,
    PromptRejectedError,
    UpstreamUnavailableError,
)
from tests.fakes.image_backend import Step, tiny_png
from tests.unit.jobs.lost_answers import read_timeout_lost
from tests.unit.jobs_harness import Harness, harness, input_image, submission

pytestmark = pytest.mark.asyncio


async def running(h: Harness) -> list[int]:
    return [j.id for j in await h.jobs() if j.state == "running"]


async def any_running(h: Harness) -> bool:
    return bool(await running(h))


async def test_success_charges_the_real_cost_and_keeps_the_images(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target) as h:
        admitted = await h.service.submit(submission(n=2))
        await h.run_all()
        job = await h.job(admitted.job.id)
        [row] = await h.ledger(job.id)
        assert job.state == "succeeded"
        assert job.charged_micro_usd == cost_of(h.catalog.get("gpt-image-1"), row.usage)
        assert 0 < job.charged_micro_usd <= admitted.estimate.micro_usd
        assert (job.charged_images, row.images, row.cost_micro_usd) == (2, 2, job.charged_micro_usd)
        files = await h.service.result_files(job.id)
        assert [f.data for f in files] == [tiny_png(1), tiny_png(2)]
        assert all(h.files.resolve(f.relpath).is_file() and f.mime == "image/png" for f in files)
        assert h.sink.kinds(job.id) == ["queued", "started", "succeeded"]
        assert h.sink.of("succeeded")[0].job.charged_micro_usd == job.charged_micro_usd


async def test_an_edit_sends_its_stored_inputs_and_mask(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target) as h:
        images = (input_image(4, 4), input_image(8, 4))
        await h.service.submit(
            submission(operation="edit", images=images, mask=input_image(), input_fidelity="high")
        )
        await h.run_all()
        [call] = h.backend.calls
        assert [(i.width, i.data) for i in call.request.images] == [
            (4, images[0].data),
            (8, images[1].data),
        ]
        assert call.request.mask is not None and call.request.options.input_fidelity == "high"
        # a salted hash of the member (user 10), never the id itself: 32 hex digits, which may
        # contain "10" by chance, so the test compares the whole value
        identifier = call.request.safety_identifier
        assert identifier is not None and re.fullmatch(r"[0-9a-f]{32}", identifier)
        assert identifier != "10"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidRequestError("bad", status=400, code="invalid_value"), 400, "invalid_value"),
        (PromptRejectedError("req_9"), 400, "moderation_blocked"),
        (UpstreamUnavailableError("down", status=503, code="server_error"), 503, "server_error"),
    ],
)
async def test_a_failed_call_releases_the_reservation(
    tmp_path: Path, db_target: Path | str, error: Exception, status: int, code: str
) -> None:
    async with harness(tmp_path, database=db_target) as h:
        h.backend.then(Step(error=error))
        admitted = await h.service.submit(submission())
        await h.run_all()
        job = await h.job(admitted.job.id)
        assert (job.state, job.charged_micro_usd, job.charged_images) == ("failed", 0, 0)
        assert job.error_code == code
        [row] = await h.ledger(job.id)
        assert (row.http_status, row.error_code, row.cost_micro_usd) == (status, code, 0)
        [event] = h.sink.of("failed")
        assert event.error is error and event.job.charged_micro_usd == 0
        assert await h.service.result_files(job.id) == []


async def test_a_call_that_may_have_been_billed_stays_charged_as_unknown(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target) as h:
        lost = read_timeout_lost()
        h.backend.then(Step(error=lost))
        admitted = await h.service.submit(submission())
        await h.run_all()
        job = await h.job(admitted.job.id)
        assert (job.state, job.charged_micro_usd, job.charged_images) == (
            "unknown",
            admitted.estimate.micro_usd,
            1,
        )
        [row] = await h.ledger(job.id)
        assert row.cost_micro_usd == job.charged_micro_usd  # the ledger never understates it
        assert len(h.backend.calls) == 1  # never sent twice
        assert h.sink.kinds(job.id)[-1] == "unknown"


async def test_cancelling_a_job_during_its_call_keeps_it_charged_as_unknown(
    tmp_path: Path,
    db_target: Path | str,
) -> None:
    async with harness(tmp_path, database=db_target, max_in_flight=1) as h:
        h.backend.then(Step(hang=True))
        first = await h.service.submit(submission(user_id=10))
        second = await h.service.submit(submission(user_id=11))
        await h.run_until(lambda: h.backend.in_flight == 1)
        await h.lifecycle.stop(grace=0)  # cancels the task awaiting the API
        await h.drain()
        job = await h.job(first.job.id)
        assert (job.state, job.charged_micro_usd) == ("unknown", first.estimate.micro_usd)
        assert [r.error_code for r in await h.ledger(job.id)] == ["interrupted"]
        assert h.sink.kinds(job.id)[-1] == "unknown"
        queued = await h.job(second.job.id)  # still waiting, still reserved, resumes next start
        assert (queued.state, queued.charged_micro_usd) == ("queued", second.estimate.micro_usd)
        assert await running(h) == []


async def test_a_clean_stop_lets_calls_in_flight_finish(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, latency=20.0) as h:
        admitted = await h.service.submit(submission())
        await h.run_until(lambda: h.backend.in_flight == 1)
        stopping = asyncio.create_task(h.lifecycle.stop(grace=30))
        await h.run_until(stopping.done)
        assert (await h.job(admitted.job.id)).state == "succeeded"
        assert h.sink.kinds(admitted.job.id)[-1] == "succeeded"


async def test_a_stop_before_the_call_goes_out_puts_the_job_back(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target) as h:
        h.files.gate = asyncio.Event()  # the edit's inputs are slow to read
        admitted = await h.service.submit(submission(operation="edit", images=(input_image(),)))
        await h.run_until(lambda: any_running(h))
        await h.lifecycle.stop(grace=0)
        job = await h.job(admitted.job.id)
        assert (job.state, job.charged_micro_usd) == ("queued", admitted.estimate.micro_usd)
        assert h.backend.calls == [] and await h.ledger(job.id) == []
        h.files.gate.set()
        await h.lifecycle.start()
        await h.run_all()
        assert (await h.job(job.id)).state == "succeeded"
        assert len(h.backend.calls) == 1


async def test_members_cancel_their_own_queued_jobs_and_moderators_any(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, start=False) as h:
        mine = await h.service.submit(submission(user_id=10))
        theirs = await h.service.submit(submission(user_id=11))
        with pytest.raises(PermissionDeniedError):
            await h.service.cancel(theirs.job.id, guild_id=1, user_id=10, is_moderator=False)
        with pytest.raises(JobNotFoundError):
            await h.service.cancel(mine.job.id, guild_id=2, user_id=10, is_moderator=True)
        cancelled = await h.service.cancel(mine.job.id, guild_id=1, user_id=10, is_moderator=False)
        assert (cancelled.state, cancelled.charged_micro_usd, cancelled.charged_images) == (
            "cancelled",
            0,
            0,
        )
        assert (await h.job(mine.job.id)).charged_micro_usd == 0
        with pytest.raises(JobNotCancellableError) as again:
            await h.service.cancel(mine.job.id, guild_id=1, user_id=10, is_moderator=False)
        assert again.value.state == "cancelled"
        await h.service.cancel(theirs.job.id, guild_id=1, user_id=10, is_moderator=True)
        await h.drain()
        assert h.sink.kinds(mine.job.id) == ["queued", "cancelled"]
        assert h.sink.kinds(theirs.job.id) == ["queued", "position", "cancelled"]
        assert h.service.queue_length(1) == 0


async def test_a_running_job_cannot_be_cancelled(tmp_path: Path, db_target: Path | str) -> None:
    async with harness(tmp_path, database=db_target) as h:
        admitted = await h.service.submit(submission())
        await h.run_until(lambda: h.backend.in_flight == 1)
        with pytest.raises(JobNotCancellableError) as caught:
            await h.service.cancel(admitted.job.id, guild_id=1, user_id=10, is_moderator=True)
        assert caught.value.state == "running"
        await h.run_all()
        assert (await h.job(admitted.job.id)).state == "succeeded"


async def test_lookups_are_scoped_to_the_guild_and_show_positions(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, start=False) as h:
        a1 = await h.service.submit(submission(guild_id=1, user_id=10))
        a2 = await h.service.submit(submission(guild_id=1, user_id=11))
        b1 = await h.service.submit(submission(guild_id=2, user_id=10))
        assert (await h.service.get(a1.job.id, guild_id=1)).id == a1.job.id
        with pytest.raises(JobNotFoundError):
            await h.service.get(a1.job.id, guild_id=2)
        with pytest.raises(JobNotFoundError):
            await h.service.get(999, guild_id=1)
        listed = await h.service.queued_for(1)
        assert [(j.id, p) for j, p in listed] == [(a1.job.id, 1), (a2.job.id, 3)]
        assert [j.id for j, _ in await h.service.queued_for(1, 11)] == [a2.job.id]
        assert (h.service.queue_length(1), h.service.queue_length(2)) == (2, 1)
        assert h.service.position(b1.job.id) == 2  # guilds take turns
        assert h.service.position(12345) is None


async def test_delivery_is_recorded(tmp_path: Path, db_target: Path | str) -> None:
    async with harness(tmp_path, database=db_target) as h:
        admitted = await h.service.submit(submission())
        await h.run_all()
        await h.service.mark_delivered(admitted.job.id, channel_id=5, message_id=6)
        job = await h.job(admitted.job.id)
        assert (job.result_channel_id, job.result_message_id) == (5, 6)
        assert job.delivered_at == h.clock.now().replace(microsecond=0)


async def test_reroll_repeats_the_request_with_the_same_inputs(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target) as h:
        images = (input_image(4, 4), input_image(8, 4))
        first = await h.service.submit(
            submission(operation="edit", images=images, mask=input_image(), n=2, quality="high")
        )
        await h.run_all()
        again = await h.service.resubmission(first.job.id, guild_id=1, user_id=20, role_ids=(7,))
        assert (again.operation, again.choices.prompt, again.choices.n, again.choices.quality) == (
            "edit",
            "a red fox",
            2,
            "high",
        )
        assert (again.user_id, again.role_ids, again.source_job_id) == (20, (7,), first.job.id)
        assert [i.data for i in again.images] == [i.data for i in images]
        assert again.mask is not None and again.mask.data == input_image().data
        rerolled = await h.service.submit(again)
        assert rerolled.job.source_job_id == first.job.id


async def test_edit_uses_the_first_result_as_the_input(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target) as h:
        first = await h.service.submit(submission(n=2))
        await h.run_all()
        with pytest.raises(InvalidOptionError):
            await h.service.resubmission(
                first.job.id, guild_id=1, user_id=10, role_ids=(), use_result_as_input=True
            )
        edit = await h.service.resubmission(
            first.job.id,
            guild_id=1,
            user_id=10,
            role_ids=(),
            prompt="now at night",
            use_result_as_input=True,
        )
        assert (edit.operation, edit.choices.prompt) == ("edit", "now at night")
        assert [i.data for i in edit.images] == [tiny_png(1)]
        admitted = await h.service.submit(edit)
        await h.run_all()
        assert (await h.job(admitted.job.id)).state == "succeeded"


async def test_purge_removes_old_files_but_never_a_queued_jobs_inputs(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, max_in_flight=1) as h:
        done = await h.service.submit(submission(operation="edit", images=(input_image(),)))
        await h.run_all()
        await h.lifecycle.stop(grace=0)
        waiting = await h.service.submit(submission(operation="edit", images=(input_image(),)))
        h.clock.advance(31 * 86_400)
        kept = [h.files.resolve(f.relpath) for f in await h.service.result_files(done.job.id)]
        assert await h.retention.purge_expired(30) == 2  # the done job's input and result
        assert await h.service.result_files(done.job.id) == []
        assert not any(p.exists() for p in kept)
        rows = await h.db.fetchall("SELECT job_id, role FROM job_files")
        assert [(r[0], r[1]) for r in rows] == [(waiting.job.id, "input")]
        assert await h.retention.purge_expired(30) == 0


async def test_a_job_outlives_the_coroutine_that_submitted_it(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target) as h:
        caller = asyncio.create_task(h.service.submit(submission()))
        await asyncio.sleep(0)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller

        async def finished() -> bool:
            return [j.state for j in await h.jobs()] == ["succeeded"]

        await h.run_until(finished)
        assert len(h.backend.calls) == 1


async def test_results_that_cannot_be_stored_still_count_their_real_cost(
    tmp_path: Path, db_target: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with harness(tmp_path, database=db_target) as h:

        async def full_disk(*args: object, **kwargs: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(h.files, "save_results", full_disk)
        admitted = await h.service.submit(submission())
        await h.run_all()
        job = await h.job(admitted.job.id)
        [row] = await h.ledger(job.id)
        assert job.state == "failed"
        assert job.charged_micro_usd == row.cost_micro_usd > 0  # it was billed


async def test_an_unexpected_error_after_sending_keeps_the_job_charged(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target) as h:
        h.backend.then(Step(error=RuntimeError("a bug in the client")))
        admitted = await h.service.submit(submission())
        await h.run_all()
        job = await h.job(admitted.job.id)
        assert (job.state, job.charged_micro_usd) == ("unknown", admitted.estimate.micro_usd)
        assert job.error_code == "internal_error"
        assert [r.cost_micro_usd for r in await h.ledger(job.id)] == [job.charged_micro_usd]


async def test_an_unexpected_error_before_sending_releases_the_job(
    tmp_path: Path, db_target: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with harness(tmp_path, database=db_target) as h:

        async def broken(relpath: str) -> bytes:
            raise ValueError("a bug while reading")

        monkeypatch.setattr(h.files, "read", broken)
        admitted = await h.service.submit(submission(operation="edit", images=(input_image(),)))
        await h.run_all()
        job = await h.job(admitted.job.id)
        assert (job.state, job.charged_micro_usd, job.charged_images) == ("failed", 0, 0)
        assert h.backend.calls == [] and await h.ledger(job.id) == []
        assert h.sink.kinds(job.id)[-1] == "failed"


async def test_control_characters_pasted_into_a_prompt_are_dropped_not_a_failure(
    tmp_path: Path, db_target: Path | str
) -> None:
    # PostgreSQL's text cannot hold a NUL: the member got "something went wrong" there.
    async with harness(tmp_path, database=db_target) as h:
        admitted = await h.service.submit(
            submission(prompt="a red\x00 fox\x1b\tat\nd\ud800usk\x7f")
        )
        assert admitted.job.prompt == "a red fox\tat\ndusk"
        assert (await h.job(admitted.job.id)).prompt == "a red fox\tat\ndusk"
        with pytest.raises(InvalidOptionError):  # nothing but controls: nothing to draw
            await h.service.submit(submission(prompt="\x00\x07 "))
