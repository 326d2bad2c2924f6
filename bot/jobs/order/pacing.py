"""Dispatch pacing state: sliding IPM/TPM windows, burst spreading, 429 pauses (rules: policy.py).

Not pyrate-limiter (4.5.1 evaluated): its buckets only test by consuming (no side-effect-free
"how long until n fit"), its GCRA never admits a weight above `burst` (we need n > burst to go from
a full bucket into debt), and its sliding window log stores one entry per unit, i.e. per TPM token.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence

from bot.clock import Clock
from bot.jobs.order import policy
from bot.jobs.order.policy import Bucket, Room, Window


class _SlidingWindow:
    """Amounts recorded at instants; at time t the window holds those recorded in (t - span, t].

    The log keeps the instant each amount leaves (recorded + span), so a snapshot is a copy.
    """

    __slots__ = ("_log", "_total", "limit", "span")

    def __init__(self, limit: int, span: float) -> None:
        self.limit = limit
        self.span = span
        self._log: deque[tuple[float, int]] = deque()
        self._total = 0

    def used(self, now: float) -> int:
        log = self._log
        while log and log[0][0] <= now:
            self._total -= log.popleft()[1]
        return self._total

    def at(self, now: float) -> Window:
        """The window as plain data: what it holds and when each part leaves."""
        used = self.used(now)
        return Window(self.limit, tuple(self._log), used)

    def add(self, now: float, amount: int) -> None:
        if amount > 0:
            self.used(now)
            self._log.append((now + self.span, amount))
            self._total += amount

    def add_earlier(self, at: float, amount: int) -> None:
        """Record an amount at a past instant (calls in time order, before any `add`)."""
        if amount > 0:
            self._log.append((at + self.span, amount))
            self._total += amount


class _SpreadBucket:
    """A token bucket of `capacity` images refilled at `rate` per second, allowed to go into debt.

    n <= capacity goes once n tokens are there; n > capacity only from a full bucket, leaving
    capacity - n, so the next request waits in proportion to the overdraft.
    """

    __slots__ = ("_at", "_level", "capacity", "rate")

    def __init__(self, capacity: int, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self._level = float(capacity)
        self._at = now

    def level(self, now: float) -> float:
        return min(float(self.capacity), self._level + (now - self._at) * self.rate)

    def at(self, now: float) -> Bucket:
        return Bucket(self.capacity, self.level(now), self.rate)

    def take(self, now: float, images: int) -> None:
        self._level = self.level(now) - images
        self._at = now

    def start_at(self, instant: float) -> None:
        """Full at an earlier instant (to replay past takes from there)."""
        self._level = float(self.capacity)
        self._at = instant


class Pacer:
    """Records the requests that went out and 429 pauses; `room()` is what that allows now."""

    def __init__(
        self,
        *,
        ipm: int,
        tpm: int,
        clock: Clock,
        burst: int | None = None,
        window: float = 60.0,
        margin: float = 0.25,
    ) -> None:
        burst = max(1, ipm // 10) if burst is None else burst
        if ipm < 1 or tpm < 1 or burst < 1 or window <= 0 or margin < 0:
            raise ValueError("ipm, tpm and burst must be >= 1, window > 0 and margin >= 0")
        self._clock = clock
        self._ipm = ipm
        self._tpm = tpm
        # The margin widens our window so that the server, which sees each request a little
        # later than we send it and by varying amounts, never counts more than ipm in its own 60 s.
        self._span = window + margin
        self._rate = ipm / window
        self._images = _SlidingWindow(ipm, self._span)
        self._tokens = _SlidingWindow(tpm, self._span)
        self._bucket = _SpreadBucket(burst, self._rate, clock.monotonic())
        self._paused_until = -math.inf
        # The ceilings alone (an empty window): all `fits_ever` reads, built once rather than a
        # whole `room()` per admission.
        self._ceilings = Room(Window(ipm), Window(tpm), Bucket(burst, burst, 0.0))

    @property
    def burst(self) -> int:
        return self._bucket.capacity

    @property
    def ipm(self) -> int:
        return self._ipm

    @property
    def tpm(self) -> int:
        return self._tpm

    def room(self) -> Room:
        """What the pacing rules allow now, as plain data for the policy (policy.py)."""
        now = self._clock.monotonic()
        return Room(
            images=self._images.at(now),
            tokens=self._tokens.at(now),
            bucket=self._bucket.at(now),
            paused=max(0.0, self._paused_until - now),
            now=now,
        )

    def delay_for(self, images: int, tokens: int) -> float:
        """Seconds from now until a request of this size may go; 0.0 = now, inf = never."""
        return policy.wait(self.room(), images, tokens)

    def largest_now(self, most: int, least: int, tokens: Callable[[int], int]) -> int:
        """The most images, from `most` down to `least`, one request may carry now; 0 if none."""
        paced = [tokens(images) for images in range(1, most + 1)]
        return policy.largest_now(self.room(), least, paced)

    def record(self, images: int, tokens: int) -> None:
        """A request of this size was dispatched now."""
        now = self._clock.monotonic()
        self._images.add(now, images)
        self._tokens.add(now, tokens)
        self._bucket.take(now, images)

    def restore(self, sent: Sequence[tuple[float, int, int]]) -> None:
        """After a restart: the requests of the last window, as (seconds ago, images, tokens)
        oldest first, count again, so the first minute does not send what the provider still
        counts (a 429). What was recorded before is forgotten: the ledger has it too (a process
        that dispatches again after a while, bot/cluster/, reads it afresh)."""
        now = self._clock.monotonic()
        self._images = _SlidingWindow(self._ipm, self._span)
        self._tokens = _SlidingWindow(self._tpm, self._span)
        self._bucket = _SpreadBucket(self._bucket.capacity, self._rate, now)
        recent = [(now - ago, images, tokens) for ago, images, tokens in sent]
        if not recent:
            return
        self._bucket.start_at(recent[0][0])
        for at, images, tokens in recent:
            self._images.add_earlier(at, images)
            self._tokens.add_earlier(at, tokens)
            self._bucket.take(at, images)

    def pause(self, seconds: float) -> None:
        """After a 429: nothing goes out until now + seconds (extends a pause, never shortens)."""
        self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)

    def fits_ever(self, images: int, tokens: int) -> bool:
        """False for requests no amount of waiting lets through (admission refuses them)."""
        return policy.fits_ever(self._ceilings, images, tokens)

    def used(self) -> tuple[int, int]:
        """(images, tokens) recorded in the current window."""
        now = self._clock.monotonic()
        return self._images.used(now), self._tokens.used(now)
