"""Splitting a job into API requests: which jobs split, and each request's share of the job."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.catalog.models import ModelSpec
from bot.domain import ImageRequest
from bot.errors import BotError
from bot.records import JobRecord

# The API's largest n. A generation goes out whole when the IPM window has room for all of it,
# and in as many images as fit whenever it has not; a lower cap only forces smaller requests,
# each paying its prompt again, for no throughput (benchmarks/scheduler.py: every cap from 1 to
# 10 reaches the same images per minute once requests take what fits).
MAX_REQUEST_IMAGES = 10


def max_requests(operation: str, images: int) -> int:
    """How many API requests a job may become: one per image for a generation.

    An edit is never split: every request would upload, and be billed for, its input images again.
    """
    return images if operation == "generate" else 1


def share(total: int, images: int, slots: Iterable[int]) -> int:
    """The part of a job's `total` (reservation or tokens) that these image slots owe.

    Slot s of n owes ceil(total * (s + 1) / n) - ceil(total * s / n): shares differ by at most
    one and those of all n slots add up to `total` exactly, so requests that hold distinct slots
    never owe more together than the job reserved.
    """
    return sum(-(-total * (s + 1) // images) - -(-total * s // images) for s in slots)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One API request of a job: the image slots it carries and their share of the job."""

    slots: tuple[int, ...]
    micro_usd: int
    tokens: int

    @property
    def images(self) -> int:
        return len(self.slots)


class JobRun:
    """What one execution of a job has sent and what came back, across its requests.

    Slots that a 429 bounced go back to `free` and are sent again; nothing else is ever sent
    twice. Requests in flight are tasks in `calls`; settlement writes are tasks in `settling`;
    `lock` makes the writes of one job's answers take turns (result numbering).
    """

    def __init__(self, job: JobRecord, spec: ModelSpec, request: ImageRequest) -> None:
        self.job = job
        self.spec = spec
        self.request = request
        self.images = job.n
        self.splittable = max_requests(job.operation, job.n) > 1
        self.free: list[int] = list(range(job.n))
        self.calls: dict[asyncio.Task[Any], Chunk] = {}
        self.settling: set[asyncio.Task[Any]] = set()
        self.lock = asyncio.Lock()
        self.sent = 0  # requests that went out (429s included)
        self.answered = 0  # requests that came back with a result
        self.made = 0  # result images stored
        self.billed_images = 0  # images of the answered requests, stored or not
        self.real_micro_usd = 0  # real cost of the answered requests
        self.answered_share = 0  # what the answered requests had reserved
        self.doubt_micro_usd = 0  # shares of the requests that may have been billed
        self.doubt_images = 0
        self.estimated_calls = 0  # answered without `usage`: charged at their share
        self.error: BotError | None = None  # the first error that stopped the job
        self.code: str | None = None  # its code (or an in-doubt one)
        self.stopping = False

    def take(self, images: int) -> Chunk:
        """The next request: the lowest free slots, with their shares of the job."""
        slots, self.free = tuple(self.free[:images]), self.free[images:]
        self.sent += 1
        job = self.job
        tokens = share(job.estimated_tokens, self.images, slots)
        return Chunk(slots, share(job.estimated_micro_usd, self.images, slots), tokens)

    def give_back(self, chunk: Chunk) -> None:
        """A 429: these slots go out again later."""
        self.free = sorted([*self.free, *chunk.slots])

    def doubt(self, chunk: Chunk) -> None:
        """This request may have been billed and its answer is lost: its share stays charged."""
        self.doubt_micro_usd += chunk.micro_usd
        self.doubt_images += chunk.images

    def stop(self, error: BotError | None, code: str | None) -> None:
        """Send nothing more; the slots not sent yet are released."""
        self.stopping = True
        self.free = []
        if self.error is None:
            self.error = error
        if self.code is None:
            self.code = code

    @property
    def untouched(self) -> bool:
        """Nothing of this run is in flight, kept or in doubt: a 429 may requeue the whole job."""
        return not (self.calls or self.answered or self.doubt_images or self.stopping)

    def running_charge(self) -> int:
        """The job's charge while it runs: answered requests at their real cost, the rest at
        their share of the reservation, so at every moment an upper bound of the whole job."""
        return self.job.estimated_micro_usd - self.answered_share + self.real_micro_usd

    def final_charge(self) -> tuple[int, int]:
        """(micro-USD, images) the job keeps once nothing is in flight any more."""
        return (
            self.real_micro_usd + self.doubt_micro_usd,
            self.billed_images + self.doubt_images,
        )
