"""The dispatch policy as pure functions: which job goes next, how big its next request is.

Everything here takes plain data (the pacer's `Room` at one instant, a job's `Pending` images)
and returns a decision; nothing reads a clock, sleeps or mutates. The dispatcher, the runner
and `benchmarks/scheduler.py` call these same functions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.jobs.events import PaceReason
from bot.jobs.order.scheduler import QueuedJob
from bot.jobs.split import share

# Added to every positive wait so that sleeping exactly that long lands past the boundary despite
# float rounding, and the next decision answers "now" instead of a few ulps.
EPSILON = 1e-6


@dataclass(frozen=True, slots=True)
class Window:
    """A sliding window at one instant: its limit and when what it holds leaves it.

    `leaving` is (instant it leaves, amount) per recorded request, soonest first, on the clock
    of the `Room` it belongs to; everything in it counts as used until then. `used` defaults to
    their sum.
    """

    limit: int
    leaving: tuple[tuple[float, int], ...] = ()
    used: int = -1

    def __post_init__(self) -> None:
        if self.used < 0:
            object.__setattr__(self, "used", sum(amount for _, amount in self.leaving))

    def fits(self, amount: int) -> bool:
        return self.used + amount <= self.limit

    def wait(self, amount: int, now: float) -> float:
        """Seconds after `now` until `amount` more fits; inf when it never can."""
        if amount > self.limit:
            return math.inf
        excess = self.used + amount - self.limit
        if excess <= 0:
            return 0.0
        for leaves, recorded in self.leaving:  # the oldest leave first
            excess -= recorded
            if excess <= 0:
                return leaves - now + EPSILON
        raise AssertionError("unreachable: amount <= limit")


@dataclass(frozen=True, slots=True)
class Bucket:
    """The burst-spreading bucket at one instant: `level` images of `capacity`, refilled at
    `refill` images per second; a request above capacity goes only from a full bucket."""

    capacity: int
    level: float
    refill: float

    def fits(self, images: int) -> bool:
        return min(images, self.capacity) - self.level <= 1e-9

    def wait(self, images: int) -> float:
        missing = min(images, self.capacity) - self.level
        return 0.0 if missing <= 1e-9 else missing / self.refill + EPSILON


@dataclass(frozen=True, slots=True)
class Room:
    """What the pacer allows at instant `now` (`Pacer.room()`): IPM and TPM windows, the burst
    bucket, and the seconds left of a 429 pause (0.0 when none)."""

    images: Window
    tokens: Window
    bucket: Bucket
    paused: float = 0.0
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class Pending:
    """The images a job has still to send: each one's token share, in sending order.

    A splittable job (a generation) may send any number of them at once, an edit only all.
    """

    shares: tuple[int, ...]
    splittable: bool

    @property
    def least(self) -> int:
        """The fewest images the next request may carry."""
        return 1 if self.splittable else len(self.shares)

    def most(self, cap: int) -> int:
        """The most images the next request may carry (`cap`: most per request)."""
        return min(len(self.shares), cap) if self.splittable else len(self.shares)

    def tokens(self, images: int) -> int:
        """Tokens paced for a request of the next `images` images."""
        return sum(self.shares[:images])


@dataclass(frozen=True, slots=True)
class Go:
    """Pop the head job now (its task sends what fits, or refuses a job that never fits)."""


@dataclass(frozen=True, slots=True)
class Send:
    """Send a request of the next `images` images, paced as `tokens` tokens, now."""

    images: int
    tokens: int


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing goes now; look again after `seconds` (None: only when something changes).

    `reason` says which of the account's per-minute limits holds the job back, when one does:
    "images" or "tokens" (None otherwise, e.g. during the pause after a 429). It is not part of
    what a Wait is (two waits of the same length are equal).
    """

    seconds: float | None
    reason: PaceReason | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class TooLarge:
    """The next request can never fit the account's limits (they were lowered since admission)."""


def pending(total_tokens: int, images: int, slots: Iterable[int], splittable: bool) -> Pending:
    """A job's unsent `slots` of `images`, each owing its share of the job's `total_tokens`."""
    return Pending(tuple(share(total_tokens, images, (slot,)) for slot in slots), splittable)


def queued_pending(job: QueuedJob) -> Pending:
    """A queued job's images: all of them are still to send."""
    return pending(job.tokens, job.images, range(job.images), job.splittable)


def fits_ever(room: Room, images: int, tokens: int) -> bool:
    """False for requests no amount of waiting lets through (admission refuses those jobs).

    The burst rule never forbids a size on its own: a request above the bucket's capacity goes
    from a full bucket, so only the IPM and TPM ceilings matter.
    """
    return 1 <= images <= room.images.limit and 0 <= tokens <= room.tokens.limit


def wait(room: Room, images: int, tokens: int) -> float:
    """Seconds until a request of this size may go; 0.0 = now, inf = never."""
    if not fits_ever(room, images, tokens):
        return math.inf
    # Every rule only loosens as time passes, so the request fits once all of them do.
    return max(
        0.0,
        room.paused,
        room.images.wait(images, room.now),
        room.tokens.wait(tokens, room.now),
        room.bucket.wait(images),
    )


def largest_now(room: Room, least: int, paced: Sequence[int]) -> int:
    """The most images one request may carry now, from len(paced) down to `least`; 0 if none.

    `paced[k - 1]` is the tokens a request of k images is paced as. Whatever fits now, a smaller
    request fits too (every rule is monotonic in the size), so the first size that fits counting
    down is the largest.
    """
    if room.paused > 0:
        return 0
    for images in range(len(paced), least - 1, -1):
        tokens = paced[images - 1]
        if (
            room.images.fits(images)
            and room.tokens.fits(tokens)
            and room.bucket.fits(images)
            and fits_ever(room, images, tokens)
        ):
            return images
    return 0


def has_slot(in_flight: int, max_in_flight: int) -> bool:
    """Whether another job may be in flight (the dispatcher waits for a slot when not)."""
    return in_flight < max_in_flight


def next_job(
    head: QueuedJob | None, room: Room, *, in_flight: int, max_in_flight: int
) -> Go | Wait:
    """Whether the head job in fair order goes now, or how long to wait.

    Head-of-line by design: when the head does not fit yet nothing overtakes it (a small job
    overtaking forever would starve a large one). A generation goes as soon as one of its images
    fits (its task sends the rest as room frees up); an edit only whole. A job that can never fit
    goes too: its task refuses it and releases its reservation.
    """
    if head is None or not has_slot(in_flight, max_in_flight):
        return Wait(None)
    job = queued_pending(head)
    images, tokens = job.least, job.tokens(job.least)
    delay = wait(room, images, tokens)
    if 0 < delay < math.inf:
        return Wait(delay, wait_reason(room, images, tokens))
    return Go()


def wait_reason(room: Room, images: int, tokens: int) -> PaceReason | None:
    """Which per-minute limit makes a request of this size wait longest (what a member is
    told); None while a 429's pause is the longer wait."""
    by_images = max(room.images.wait(images, room.now), room.bucket.wait(images))
    by_tokens = room.tokens.wait(tokens, room.now)
    if room.paused >= max(by_images, by_tokens):
        return None
    return "images" if by_images >= by_tokens else "tokens"


def next_request(job: Pending, room: Room, cap: int) -> Send | Wait | TooLarge:
    """The job's next request: as many images as fit now (at most `cap` for a generation; an
    edit whole), else how long until its smallest request fits, else TooLarge.

    `job` must have at least one image to send.
    """
    if not job.shares:
        raise ValueError("nothing is left to send")
    least, most = job.least, job.most(cap)
    sizes = [job.tokens(images) for images in range(1, most + 1)]
    images = largest_now(room, least, sizes)
    if images:
        return Send(images, sizes[images - 1])
    delay = wait(room, least, sizes[least - 1])
    return TooLarge() if math.isinf(delay) else Wait(delay)
