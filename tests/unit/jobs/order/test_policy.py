"""The dispatch policy: plain data in (the pacer's room, a job's pending images), decision out."""

from __future__ import annotations

import math

from bot.jobs.order.policy import (
    EPSILON,
    Bucket,
    Go,
    Pending,
    Room,
    Send,
    TooLarge,
    Wait,
    Window,
    next_job,
    next_request,
    pending,
)
from bot.jobs.order.scheduler import QueuedJob

REFILL = 50 / 60  # IPM 50: one image of burst credit every 1.2 s


def room(
    *,
    images: tuple[tuple[float, int], ...] = (),
    tokens: tuple[tuple[float, int], ...] = (),
    level: float = 5.0,
    ipm: int = 50,
    tpm: int = 100_000,
    paused: float = 0.0,
) -> Room:
    """A pacer at IPM 50 (burst 5): `images`/`tokens` are (seconds until they leave, amount)."""
    return Room(Window(ipm, images), Window(tpm, tokens), Bucket(5, level, REFILL), paused)


def generation(job_id: int = 1, images: int = 4, tokens: int = 400) -> QueuedJob:
    return QueuedJob(job_id, 1, 10, images, tokens, splittable=images > 1)


def edit(job_id: int = 1, images: int = 4, tokens: int = 400) -> QueuedJob:
    return QueuedJob(job_id, 1, 10, images, tokens, splittable=False)


def test_nothing_goes_when_nothing_is_queued_or_every_slot_is_busy() -> None:
    assert next_job(None, room(), in_flight=0, max_in_flight=4) == Wait(None)
    assert next_job(generation(), room(), in_flight=4, max_in_flight=4) == Wait(None)
    assert next_job(generation(), room(), in_flight=3, max_in_flight=4) == Go()


def test_a_generation_starts_as_soon_as_one_image_fits_an_edit_only_whole() -> None:
    one_left = room(level=1.0)
    assert next_job(generation(images=4), one_left, in_flight=0, max_in_flight=4) == Go()
    decision = next_job(edit(images=4), one_left, in_flight=0, max_in_flight=4)
    assert decision == Wait(3 / REFILL + EPSILON)


def test_the_head_waits_for_the_ipm_window_and_a_429_pause() -> None:
    full = room(images=((12.5, 30), (40.0, 20)))  # 50 of 50 used; 30 leave in 12.5 s
    assert next_job(generation(), full, in_flight=0, max_in_flight=4) == Wait(12.5 + EPSILON)
    paused = room(paused=7.0)
    assert next_job(generation(), paused, in_flight=0, max_in_flight=4) == Wait(7.0)


def test_a_wait_names_the_per_minute_limit_that_holds_the_head_back() -> None:
    def reason(r: Room) -> object:
        decision = next_job(generation(), r, in_flight=0, max_in_flight=4)
        assert isinstance(decision, Wait)
        return decision.reason

    assert reason(room(images=((12.5, 30), (40.0, 20)))) == "images"
    assert reason(room(level=0.0)) == "images"  # the burst bucket spreads the same IPM
    assert reason(room(tokens=((20.0, 100_000),))) == "tokens"
    assert reason(room(paused=30.0, images=((12.5, 50),))) is None  # a 429's pause, not the IPM


def test_a_job_that_can_never_fit_goes_to_its_task_to_be_refused() -> None:
    too_big = room(tpm=100)
    assert next_job(edit(tokens=400), too_big, in_flight=0, max_in_flight=4) == Go()


def test_a_request_takes_as_many_images_as_fit_now_with_their_token_shares() -> None:
    job = pending(700, 7, range(7), splittable=True)  # shares 100 each
    assert next_request(job, room(level=3.0), cap=10) == Send(3, 300)
    assert next_request(job, room(level=5.0, images=((9.0, 48),)), cap=10) == Send(2, 200)


def test_a_full_bucket_lets_a_request_above_the_burst_go_whole_up_to_the_cap() -> None:
    job = pending(1000, 10, range(10), splittable=True)
    assert next_request(job, room(level=5.0), cap=10) == Send(10, 1000)
    assert next_request(job, room(level=5.0), cap=4) == Send(4, 400)
    assert next_request(job, room(level=4.9), cap=10) == Send(4, 400)


def test_the_token_window_can_decide_the_size() -> None:
    job = pending(600, 4, range(4), splittable=True)  # 150 per image
    assert next_request(job, room(tpm=1_000, tokens=((30.0, 700),)), cap=10) == Send(2, 300)


def test_an_edit_waits_until_all_its_images_fit() -> None:
    job = pending(400, 4, range(4), splittable=False)
    decision = next_request(job, room(images=((20.0, 1), (25.0, 47))), cap=10)
    assert decision == Wait(25.0 + EPSILON)  # 48 used: 2 more must leave
    assert next_request(job, room(images=((20.0, 46),)), cap=10) == Send(4, 400)


def test_nothing_fits_a_generation_waits_for_its_smallest_request() -> None:
    job = pending(300, 3, (1, 2), splittable=True)  # slot 0 went out already
    assert job == Pending((100, 100), True)
    assert next_request(job, room(level=-0.2), cap=10) == Wait(1.2 / REFILL + EPSILON)


def test_a_request_that_can_never_fit_is_too_large() -> None:
    job = pending(4_000, 4, range(4), splittable=False)
    assert next_request(job, room(tpm=3_000), cap=10) == TooLarge()
    # A full window is not "too large": what fits the limit at all waits for its room.
    one = pending(10, 1, [0], splittable=True)
    assert next_request(one, room(ipm=1, images=((5.0, 1),)), cap=10) == Wait(5.0 + EPSILON)


def test_token_shares_differ_by_at_most_one_and_add_up_to_the_job() -> None:
    shares = pending(10, 3, range(3), splittable=True).shares
    assert shares == (4, 3, 3)
    assert sum(pending(1_001, 7, range(7), True).shares) == 1_001


def test_more_than_a_window_holds_never_fits() -> None:
    assert math.isinf(Window(5).wait(6, now=0.0))
    assert Window(5, ((3.0, 2), (4.0, 3))).wait(2, now=1.0) == 2.0 + EPSILON
