"""Pacer: strict IPM/TPM windows, burst spreading, 429 pauses, on a manual clock."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings, strategies as st

from bot.clock import ManualClock
from bot.jobs.order.pacing import Pacer


def send_when_allowed(pacer: Pacer, clock: ManualClock, images: int, tokens: int = 0) -> float:
    """Wait as the dispatcher would, then send; returns the dispatch time."""
    clock.advance(pacer.delay_for(images, tokens))
    assert pacer.delay_for(images, tokens) == 0.0  # one sleep is always enough
    pacer.record(images, tokens)
    return clock.monotonic()


def most_in_window(sent: list[tuple[float, int]], span: float) -> int:
    """Most units in any window (t - span, t] over a log in time order."""
    return max(
        (sum(n for at, n in sent if end - span < at <= end) for end, _ in sent),
        default=0,
    )


@settings(max_examples=40, deadline=None)
@given(
    ipm=st.sampled_from([5, 20, 50, 150]),
    seed=st.integers(0, 2**32 - 1),
    burst=st.one_of(st.none(), st.integers(1, 20)),
)
def test_no_window_ever_holds_more_than_ipm_images(ipm: int, seed: int, burst: int | None) -> None:
    rng = random.Random(seed)
    clock = ManualClock()
    pacer = Pacer(ipm=ipm, tpm=10**9, clock=clock, burst=burst)
    ours: list[tuple[float, int]] = []
    server: list[tuple[float, int]] = []
    for _ in range(300):
        clock.advance(rng.choice([0.0, 0.0, rng.uniform(0, 5), rng.uniform(0, 90)]))
        n = rng.randint(1, min(10, ipm))
        at = send_when_allowed(pacer, clock, n)
        ours.append((at, n))
        server.append((at + rng.uniform(0.0, 0.2), n))  # the server sees it a little later
    assert most_in_window(ours, 60.25) <= ipm
    assert most_in_window(sorted(server), 60.0) <= ipm


def test_a_backlog_is_sent_at_the_full_rate() -> None:
    clock = ManualClock()
    pacer = Pacer(ipm=50, tpm=10**9, clock=clock)
    times = [send_when_allowed(pacer, clock, 1) for _ in range(500)]
    # The first 50 are spread 1.2 s apart after the burst of 5; afterwards each image goes as
    # soon as the one 50 places earlier leaves the window: no capacity is left unused.
    assert times[49] == pytest.approx(45 * 1.2, abs=1e-3)
    for earlier, later in zip(times, times[50:], strict=False):
        assert later == pytest.approx(earlier + 60.25, abs=1e-3)


def test_the_default_burst_is_a_tenth_of_ipm() -> None:
    clock = ManualClock()
    assert Pacer(ipm=50, tpm=1, clock=clock).burst == 5
    assert Pacer(ipm=5, tpm=1, clock=clock).burst == 1
    assert Pacer(ipm=250, tpm=1, clock=clock, burst=7).burst == 7


def test_only_a_burst_goes_at_once_then_requests_are_spread() -> None:
    clock = ManualClock()
    pacer = Pacer(ipm=50, tpm=10**9, clock=clock)
    sent_at_start = 0
    while pacer.delay_for(1, 0) == 0.0:
        pacer.record(1, 0)
        sent_at_start += 1
    assert sent_at_start == 5
    assert pacer.delay_for(1, 0) == pytest.approx(60 / 50, abs=1e-3)
    assert pacer.delay_for(3, 0) == pytest.approx(3 * 60 / 50, abs=1e-3)


def test_a_request_larger_than_the_burst_goes_from_a_full_bucket_then_leaves_a_gap() -> None:
    clock = ManualClock()
    pacer = Pacer(ipm=50, tpm=10**9, clock=clock)
    assert pacer.delay_for(10, 0) == 0.0
    pacer.record(10, 0)
    # Five images over the burst plus the next one: six refills of 1.2 s.
    assert pacer.delay_for(1, 0) == pytest.approx(6 * 1.2, abs=1e-3)
    assert pacer.delay_for(10, 0) == pytest.approx(10 * 1.2, abs=1e-3)


def test_a_large_request_waits_for_a_full_bucket() -> None:
    clock = ManualClock()
    pacer = Pacer(ipm=50, tpm=10**9, clock=clock)
    pacer.record(3, 0)
    assert pacer.delay_for(2, 0) == 0.0
    assert pacer.delay_for(8, 0) == pytest.approx(3 * 1.2, abs=1e-3)


def test_tokens_per_minute_are_limited_like_images() -> None:
    clock = ManualClock()
    pacer = Pacer(ipm=50, tpm=10_000, clock=clock, burst=50)
    assert send_when_allowed(pacer, clock, 1, 4_000) == 0.0
    assert send_when_allowed(pacer, clock, 1, 4_000) == 0.0
    assert pacer.delay_for(1, 4_000) == pytest.approx(60.25, abs=1e-3)
    assert pacer.delay_for(1, 2_000) == 0.0
    assert pacer.used() == (2, 8_000)


def test_a_pause_holds_everything_and_is_only_ever_extended() -> None:
    clock = ManualClock()
    pacer = Pacer(ipm=50, tpm=10**9, clock=clock)
    pacer.pause(30)
    assert pacer.delay_for(1, 0) == pytest.approx(30)
    pacer.pause(10)
    assert pacer.delay_for(1, 0) == pytest.approx(30)
    clock.advance(20)
    pacer.pause(25)
    assert pacer.delay_for(1, 0) == pytest.approx(25)
    clock.advance(25)
    assert pacer.delay_for(1, 0) == 0.0


def test_requests_that_can_never_fit_are_reported() -> None:
    clock = ManualClock()
    pacer = Pacer(ipm=50, tpm=100_000, clock=clock)
    assert pacer.fits_ever(10, 100_000)
    assert pacer.fits_ever(50, 0)
    assert not pacer.fits_ever(51, 0)
    assert not pacer.fits_ever(1, 100_001)
    assert not pacer.fits_ever(0, 0)
    assert pacer.delay_for(51, 0) == math.inf
    assert not Pacer(ipm=5, tpm=100_000, clock=clock).fits_ever(10, 0)


def test_nonsense_limits_are_refused() -> None:
    clock = ManualClock()
    with pytest.raises(ValueError, match="ipm"):
        Pacer(ipm=0, tpm=1, clock=clock)
    with pytest.raises(ValueError, match="burst"):
        Pacer(ipm=5, tpm=1, clock=clock, burst=0)


def test_a_restored_minute_counts_until_it_leaves_the_window() -> None:
    clock = ManualClock()
    pacer = Pacer(ipm=6, tpm=10_000, clock=clock, burst=2)
    pacer.restore([(50.0, 2, 1_000), (30.0, 3, 2_000), (5.0, 1, 500)])  # seconds ago, oldest first
    assert pacer.used() == (6, 3_500)
    assert math.isclose(pacer.delay_for(1, 100), 60.25 - 50.0, abs_tol=1e-3)  # oldest leave first
    clock.advance(10.25)
    assert pacer.used() == (4, 2_500)
    assert pacer.delay_for(2, 100) == 0.0
