"""A generation sent as several API requests: what fits goes, nothing paid is lost or resent.

Most tests fill an IPM-4 window with a 3-image "filler" job first, so that the job under test
("fox", 3 images) finds one free place: its first image goes at once, the rest 60 s later.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.catalog.models import ModelSpec
from bot.catalog.pricing import cost_of, estimate, nominal_output_tokens, text_tokens_upper_bound
from bot.clock import ManualClock
from bot.db import open_database
from bot.domain import ImageOptions, TokenUsage
from bot.errors import PromptRejectedError, RateLimitedError
from bot.jobs.order.pacing import Pacer
from bot.jobs.settle.settlement import IN_DOUBT_MESSAGE
from bot.jobs.split import share
from bot.records import JobRecord
from tests.fakes.image_backend import FakeImageBackend, Step
from tests.unit.jobs.lost_answers import read_timeout_lost
from tests.unit.jobs_harness import (
    START,
    Harness,
    catalog,
    harness,
    input_image,
    make_harness,
    submission,
)

IPM: dict[str, Any] = {"ipm": 4, "burst": 4}  # no burst spreading: the window alone decides


def asked(h: Harness, prompt: str = "fox") -> list[int]:
    """Images per request the API received for one job, 429s included, in order."""
    return [c.request.options.n for c in h.backend.calls if c.request.prompt == prompt]


async def fill_then_fox(h: Harness, n: int = 3, **fox: Any) -> JobRecord:
    """The filler takes 3 of the 4 places of this minute, then the job under test is queued."""
    await h.service.submit(submission(guild_id=9, user_id=90, prompt="filler", n=3))
    await h.run_until(lambda: len(h.backend.calls) == 1)
    return (await h.service.submit(submission(prompt="fox", n=n, **fox))).job


async def check_books(h: Harness, job: JobRecord) -> JobRecord:
    """The settled job: charged exactly its ledger rows, never more than it reserved."""
    done = await h.job(job.id)
    rows = await h.ledger(job.id)
    assert done.charged_micro_usd == sum(r.cost_micro_usd for r in rows)
    assert done.charged_micro_usd <= done.estimated_micro_usd
    return done


async def test_a_generation_takes_the_places_that_are_free_and_the_rest_later(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path, **IPM) as h:
        fox = await fill_then_fox(h)
        await h.run_all()
        assert asked(h, "filler") == [3] and asked(h) == [1, 2]
        first, second = [c for c in h.backend.calls if c.request.prompt == "fox"]
        assert first.at == 0 and second.at >= 60  # the first image did not wait for three places
        assert h.backend.limit_violations == 0
        done = await check_books(h, fox)
        rows = await h.ledger(fox.id)
        assert [(r.n, r.images) for r in rows] == [(1, 1), (2, 2)]  # one row per API call
        assert done.charged_micro_usd == sum(cost_of(h.catalog.get(done.model), r.usage)
                                             for r in rows)  # fmt: skip
        assert (done.state, done.charged_images, done.error_code) == ("succeeded", 3, None)
        files = await h.service.result_files(fox.id)
        assert [f.index for f in files] == [0, 1, 2]  # one result set, in order
        assert h.sink.kinds(fox.id) == ["queued", "started", "succeeded"]


async def test_a_jobs_requests_go_back_to_back_before_the_next_job(tmp_path: Path) -> None:
    async with harness(tmp_path, **IPM) as h:
        await fill_then_fox(h, n=4)
        await h.run_until(lambda: asked(h) == [1])  # the fox waits for room for the rest...
        await h.service.submit(submission(guild_id=2, user_id=20, prompt="owl"))
        await h.run_all()
        order = [(c.request.prompt, c.request.options.n) for c in h.backend.calls]
        # The owl fits as soon as the fox's first image did; it still waits for the fox's rest.
        assert order == [("filler", 3), ("fox", 1), ("fox", 3), ("owl", 1)]


async def test_edits_are_never_split(tmp_path: Path) -> None:
    async with harness(tmp_path, **IPM) as h:
        await fill_then_fox(h, operation="edit", images=(input_image(),))
        await h.run_all()
        assert asked(h) == [3]  # the input image is uploaded, and billed, once
        fox = [c for c in h.backend.calls if c.request.prompt == "fox"]
        assert fox[0].at >= 60


async def test_max_request_images_caps_every_request(tmp_path: Path) -> None:
    async with harness(tmp_path, max_request_images=3) as h:
        job = (await h.service.submit(submission(prompt="fox", n=4))).job
        await h.run_all()
        assert asked(h) == [3, 1]
        assert {c.at for c in h.backend.calls} == {0.0}  # all at once: room was there
        done = await check_books(h, job)
        assert (done.state, done.charged_images) == ("succeeded", 4)
        assert len(await h.service.result_files(job.id)) == 4


async def test_a_429_on_a_later_request_sends_only_its_images_again(tmp_path: Path) -> None:
    async with harness(tmp_path, **IPM) as h:
        limited = RateLimitedError("slow down", retry_after=5)
        h.backend.then(Step(), Step(), Step(error=limited, error_after_latency=False))
        fox = await fill_then_fox(h)
        await h.run_all()
        assert asked(h) == [1, 2, 2]  # the answered image was not asked for again
        retry, again = [c for c in h.backend.calls if c.request.prompt == "fox"][1:]
        assert again.at - retry.at >= 5  # dispatch paused for the Retry-After
        done = await check_books(h, fox)
        rows = await h.ledger(fox.id)
        assert [(r.http_status, r.n, r.images, r.cost_micro_usd > 0) for r in rows] == [
            (200, 1, 1, True),
            (429, 2, 0, False),  # the 429 costs nothing
            (200, 2, 2, True),
        ]
        assert (done.state, done.charged_images) == ("succeeded", 3)
        assert len(await h.service.result_files(fox.id)) == 3
        assert h.sink.kinds(fox.id) == ["queued", "started", "succeeded"]  # never requeued


async def test_a_refusal_after_some_images_delivers_those(tmp_path: Path) -> None:
    async with harness(tmp_path, **IPM) as h:
        h.backend.then(Step(), Step(), Step(error=PromptRejectedError("req_mod")))
        fox = await fill_then_fox(h)
        await h.run_all()
        done = await check_books(h, fox)
        rows = await h.ledger(fox.id)
        assert [(r.http_status, r.error_code) for r in rows] == [
            (200, None),
            (400, "moderation_blocked"),
        ]
        assert done.charged_micro_usd == rows[0].cost_micro_usd > 0  # the rest is released
        assert (done.state, done.charged_images) == ("succeeded", 1)
        assert done.error_code == "moderation_blocked"
        assert (done.error_message or "").startswith("1 of 3 images were made")
        assert len(await h.service.result_files(fox.id)) == 1
        [event] = h.sink.of("succeeded")[-1:]
        assert isinstance(event.error, PromptRejectedError)


async def test_a_refusal_of_the_first_request_sends_nothing_more(tmp_path: Path) -> None:
    async with harness(tmp_path, **IPM) as h:
        h.backend.then(Step(), Step(error=PromptRejectedError("req_mod")))
        fox = await fill_then_fox(h)
        await h.run_all()
        assert asked(h) == [1]
        done = await check_books(h, fox)
        assert (done.state, done.charged_micro_usd, done.charged_images) == ("failed", 0, 0)
        assert done.error_code == "moderation_blocked"


async def test_a_lost_answer_keeps_its_share_charged_and_the_images_made(tmp_path: Path) -> None:
    async with harness(tmp_path, **IPM) as h:
        lost = read_timeout_lost()
        h.backend.then(Step(), Step(), Step(error=lost))
        fox = await fill_then_fox(h)
        await h.run_all()
        assert asked(h) == [1, 2]  # never sent again
        done = await check_books(h, fox)
        made, doubt = await h.ledger(fox.id)
        assert doubt.cost_micro_usd == share(fox.estimated_micro_usd, 3, (1, 2))
        assert done.charged_micro_usd == made.cost_micro_usd + doubt.cost_micro_usd
        assert (done.state, done.charged_images, done.error_code) == (
            "succeeded",
            3,
            "read_timeout",
        )
        assert IN_DOUBT_MESSAGE in (done.error_message or "")
        assert len(await h.service.result_files(fox.id)) == 1


async def test_a_lost_first_answer_is_unknown_and_releases_the_unsent_rest(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path, **IPM) as h:
        lost = read_timeout_lost()
        h.backend.then(Step(), Step(error=lost))
        fox = await fill_then_fox(h, n=2)
        await h.run_all()
        assert asked(h) == [1]
        done = await check_books(h, fox)
        assert (done.state, done.charged_images) == ("unknown", 1)
        assert done.charged_micro_usd == share(fox.estimated_micro_usd, 2, (0,))
        assert h.sink.kinds(fox.id)[-1] == "unknown"


async def fox_half_done(h: Harness) -> JobRecord:
    """The fox's first image is kept; its second request hangs in flight."""
    h.backend.then(Step(), Step(), Step(hang=True))
    fox = await fill_then_fox(h)
    await h.run_until(lambda: asked(h) == [1, 2] and h.backend.in_flight == 1)

    async def first_kept() -> bool:
        return bool(await h.service.result_files(fox.id))

    await h.run_until(first_kept)
    return fox


async def test_a_stop_mid_job_delivers_what_was_made(tmp_path: Path) -> None:
    clock = ManualClock(START)
    async with harness(tmp_path, clock=clock, **IPM) as h:
        fox = await fox_half_done(h)
        await h.lifecycle.stop(grace=0)  # cancels the request in flight
        await h.drain()
        done = await check_books(h, fox)
        rows = await h.ledger(fox.id)
        assert [r.error_code for r in rows] == [None, "interrupted"]
        assert rows[1].cost_micro_usd == share(fox.estimated_micro_usd, 3, (1, 2))
        assert (done.state, done.charged_images) == ("succeeded", 3)
        assert h.sink.kinds(fox.id)[-1] == "succeeded"
    async with harness(tmp_path, clock=clock, **IPM) as second:
        await second.run_all()
        assert second.backend.calls == []  # nothing is sent twice
        assert ("succeeded", fox.id) in [(e.kind, e.job.id) for e in second.sink.events]
        assert len(await second.service.result_files(fox.id)) == 1


async def test_a_crash_mid_job_delivers_what_was_made_after_the_restart(tmp_path: Path) -> None:
    clock = ManualClock(START)
    crashed = tmp_path / "crashed.sqlite3"
    async with harness(tmp_path, clock=clock, **IPM) as first:
        fox = await fox_half_done(first)
        source = sqlite3.connect(first.db_path)
        with sqlite3.connect(crashed) as copy:
            source.backup(copy)  # the database as a power cut leaves it
        source.close()
    backend = FakeImageBackend(clock)
    async with open_database(crashed) as db:
        second = make_harness(db, clock, backend, tmp_path, ipm=4, tpm=10**8, burst=4)
        await second.lifecycle.start()
        try:
            await second.run_all()
            assert backend.calls == []
            done = await check_books(second, fox)
            rows = await second.ledger(fox.id)
            assert [r.error_code for r in rows] == [None, "interrupted"]
            assert rows[1].cost_micro_usd == share(fox.estimated_micro_usd, 3, (1, 2))
            assert (done.state, done.charged_images, done.error_code) == (
                "succeeded",
                3,
                "interrupted",
            )
            assert second.sink.kinds(fox.id) == ["succeeded"]  # announced once
            assert len(await second.service.result_files(fox.id)) == 1
        finally:
            await second.lifecycle.stop(grace=0)


async def test_the_reservation_covers_split_requests_at_their_worst(tmp_path: Path) -> None:
    prompt = "a fox" + " and a fox" * 200
    async with harness(tmp_path, max_request_images=1) as h:
        spec = h.catalog.get("gpt-image-1")
        worst = TokenUsage(
            text_input=text_tokens_upper_bound(prompt),
            image_output=nominal_output_tokens(spec, "1024x1024", "medium"),
        )
        h.backend.chooser = lambda _request: Step(usage=worst)
        job = (await h.service.submit(submission(prompt=prompt, n=4))).job
        await h.run_all()
        assert asked(h, prompt) == [1, 1, 1, 1]
        done = await check_books(h, job)
        assert done.charged_micro_usd == 4 * cost_of(spec, worst)
        # Counting the prompt once, as for one request, would not have covered it.
        options = ImageOptions(model=spec.name, size="1024x1024", quality="medium", n=4)
        assert estimate(spec, options, prompt=prompt).micro_usd < done.charged_micro_usd


def odd_prices(spec: ModelSpec) -> ModelSpec:
    """An operator's catalog with prices that are no whole micro-USD per token."""
    prices = replace(spec.prices, text_input=2_500_003, image_output=7_777_777, text_output=0)
    return replace(spec, name=f"{spec.name} (odd prices)", prices=prices)


@pytest.mark.parametrize("model", ["gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5",
                                   "gpt-image-2"])  # fmt: skip
@pytest.mark.parametrize("n", [1, 2, 3, 7, 10])
@pytest.mark.parametrize("odd", [False, True])
def test_a_generation_estimate_bounds_any_split_of_its_images(
    model: str, n: int, odd: bool
) -> None:
    spec = odd_prices(catalog().get(model)) if odd else catalog().get(model)
    prompt = "ünïcode prompt " * 40
    options = ImageOptions(model=model, size="auto", quality="auto", n=n)
    bound = estimate(spec, options, prompt=prompt, requests=n)
    dearest = max(
        nominal_output_tokens(spec, size, quality)
        for size in spec.auto_size_candidates()
        for quality in spec.qualities
        if quality != "auto"
    )
    text_out = spec.text_output_tokens_estimate if spec.prices.text_output else 0

    def worst(images: int) -> int:
        usage = TokenUsage(
            text_input=text_tokens_upper_bound(prompt),
            image_output=images * dearest,
            text_output=images * text_out,
        )
        return cost_of(spec, usage)

    for sizes in ([n], [1] * n, [n // 2, n - n // 2] if n > 1 else [1]):
        assert sum(worst(m) for m in sizes) <= bound.micro_usd
        assert sum(share(bound.tokens, n, range(m)) for m in sizes) <= bound.tokens
    # Whatever slots a request holds, its share (what stays charged if its answer is lost, and
    # what it gives back once answered) covers its cost: no job ever counts above its reservation.
    for first in range(n):
        for m in range(1, n - first + 1):
            assert share(bound.micro_usd, n, range(first, first + m)) >= worst(m)
    single = estimate(spec, options, prompt=prompt)  # the prompt counted once, as before
    assert (bound == single) if n == 1 else (bound.micro_usd > single.micro_usd)


async def test_a_429_on_all_a_job_had_sent_puts_it_back_whole(tmp_path: Path) -> None:
    async with harness(tmp_path, **IPM) as h:
        limited = RateLimitedError("slow down", retry_after=30)
        h.backend.then(Step(), Step(error=limited, error_after_latency=False))
        fox = await fill_then_fox(h)
        await h.run_until(lambda: len(h.backend.calls) == 2)
        await h.quiesce()
        job = await h.job(fox.id)  # nothing of it is out or kept: the job is queued again
        assert (job.state, job.charged_micro_usd) == ("queued", fox.estimated_micro_usd)
        await h.run_all()
        assert asked(h) == [1, 3]  # then it goes as the room allows
        assert (await check_books(h, fox)).state == "succeeded"
        # Back at the head, it is told once that the images-per-minute limit holds it (case 22).
        kinds = ["queued", "started", "position", "position", "started", "succeeded"]
        assert h.sink.kinds(fox.id) == kinds


async def test_admission_counts_the_prompt_per_request_only_for_generations(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path, start=False) as h:
        spec = h.catalog.get("gpt-image-1")
        generation = await h.service.submit(submission(prompt="fox", n=3))
        edit = await h.service.submit(
            submission(user_id=11, prompt="fox", n=3, operation="edit", images=(input_image(),))
        )
        options = generation.job.options
        assert generation.estimate == estimate(spec, options, prompt="fox", requests=3)
        once = estimate(spec, edit.job.options, prompt="fox", input_sizes=[(4, 4)])
        assert edit.estimate == once  # its input image would be billed again per request
        assert generation.job.estimated_micro_usd > estimate(spec, options, prompt="fox").micro_usd


def test_the_pacer_names_the_largest_request_that_fits_now() -> None:
    clock = ManualClock(START)
    pacer = Pacer(ipm=10, tpm=1_000, clock=clock, burst=4)
    assert pacer.largest_now(10, 1, lambda m: 100 * m) == 10  # a full bucket lets all go at once
    pacer.record(7, 700)
    assert pacer.largest_now(10, 1, lambda m: 100 * m) == 0  # the bucket is in debt
    clock.advance(30)  # the bucket is back to 2 images; the window has room for 3
    assert pacer.largest_now(10, 1, lambda m: 100 * m) == 2
    clock.advance(6)  # 3 in the bucket
    assert pacer.largest_now(10, 1, lambda m: 100 * m) == 3
    assert pacer.largest_now(10, 1, lambda m: 150 * m) == 2  # the tokens decide
    assert pacer.largest_now(5, 5, lambda m: 100 * m) == 0  # an edit of 5 goes whole or not
