"""Simulated hours of the job queue against an in-process model of the fake's strict IPM rule.

Runs the shipped FairScheduler, Pacer and dispatch policy (bot/jobs/order/policy.py: `next_job`, the
dispatcher's decision, and `next_request`, the runner's) on a ManualClock; only the event loop
around them (arrivals, requests in flight, answers, 429s) is simulated.

    .venv/bin/python benchmarks/scheduler.py [--edits 0.1] [--max-request-images 10] [--static]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
import random
import statistics
import sys
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python benchmarks/scheduler.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.clock import ManualClock
from bot.jobs.order.pacing import Pacer
from bot.jobs.order.policy import Go, Pending, Send, Wait, next_job, next_request, pending
from bot.jobs.order.scheduler import FairScheduler, QueuedJob
from bot.jobs.split import MAX_REQUEST_IMAGES

SERVER_WINDOW = 60.0  # tests/fakes/openai_server.py: strict IPM over a trailing 60 s
FAIRNESS_INTERVAL = 600.0  # seconds per interval of Jain's index
# Images per request as members use /imagine: mostly one, some 2-4, a few up to 10.
SIZE_MIX = {1: 70, 2: 8, 3: 4, 4: 11, 5: 1, 6: 1, 7: 1, 8: 1.5, 9: 0.5, 10: 2}
TOKENS_PER_IMAGE = (272, 1056, 4160)  # low / medium / high at 1024x1024
PROMPT_TOKENS = 100  # a prompt's text input, reserved once per request
EDIT_INPUT_TOKENS = 4_500  # one 1024x1024 input image at high fidelity


class StrictIpmServer:
    """Mirrors the fake server's `_admit`: accepted images in (now - 60, now] must stay <= ipm."""

    def __init__(self, ipm: int) -> None:
        self.ipm = ipm
        self.window: deque[tuple[float, int]] = deque()
        self.accepted: list[tuple[float, int]] = []

    def admit(self, now: float, n: int) -> int | None:
        """None when accepted, else the Retry-After seconds of the 429."""
        while self.window and self.window[0][0] <= now - SERVER_WINDOW:
            self.window.popleft()
        used = sum(count for _, count in self.window)
        if used + n <= self.ipm:
            self.window.append((now, n))
            self.accepted.append((now, n))
            return None
        need, wait = used + n - self.ipm, SERVER_WINDOW
        for at, count in self.window:
            need -= count
            if need <= 0:
                wait = at + SERVER_WINDOW - now
                break
        return max(1, math.ceil(wait))


@dataclass
class SimJob:
    """A queued job and what its dispatch has sent so far (the runner's JobRun, in brief)."""

    queued: QueuedJob
    edit: bool
    free: list[int] = field(default_factory=list)  # image slots not sent yet (or bounced)
    flying: int = 0  # its requests in flight
    answered: int = 0  # its requests that came back


@dataclass(frozen=True)
class SimRequest:
    """One API request: some of `job`'s image slots."""

    job: SimJob
    slots: tuple[int, ...]
    number: int

    @property
    def images(self) -> int:
        return len(self.slots)


@dataclass
class Stats:
    """What the run measured, besides the server's log."""

    arrived: dict[int, float] = field(default_factory=dict)
    dispatched: dict[int, float] = field(default_factory=dict)
    served: dict[int, tuple[float, int, int]] = field(default_factory=dict)  # (t, guild, images)
    busy: dict[int, list[list[float]]] = field(default_factory=lambda: defaultdict(list))
    backlog: list[list[float]] = field(default_factory=list)  # [start, end] of a non-empty queue
    rejected: int = 0
    cpu: float = 0.0
    calls: int = 0
    peak: int = 0
    positions_cpu: float = 0.0


def make_jobs(args: argparse.Namespace, rng: random.Random) -> list[tuple[float, SimJob]]:
    """Jobs with Poisson arrivals over `arrive_minutes`, guilds Zipf(s) by rank, a share of edits.

    Tokens are what admission reserves: a generation counts its prompt once per image (it may go
    as one request per image), an edit once, plus its input image.
    """
    weights = [1 / rank**args.zipf for rank in range(1, args.guilds + 1)]
    sizes, size_weights = list(SIZE_MIX), list(SIZE_MIX.values())
    rate, t = args.jobs / (args.arrive_minutes * 60), 0.0
    jobs: list[tuple[float, SimJob]] = []
    for number in range(1, args.jobs + 1):
        t += rng.expovariate(rate)
        guild = rng.choices(range(args.guilds), weights)[0]
        user = guild * 1000 + rng.randrange(max(1, 12 // (guild + 1)))
        n = min(args.ipm, rng.choices(sizes, size_weights)[0])  # admission refuses n > IPM
        per_image = rng.choice(TOKENS_PER_IMAGE)
        edit = rng.random() < args.edits
        tokens = (
            PROMPT_TOKENS + EDIT_INPUT_TOKENS + n * per_image
            if edit
            else n * (PROMPT_TOKENS + per_image)
        )
        jobs.append((t, SimJob(QueuedJob(number, guild, user, n, tokens, not edit), edit)))
    return jobs


class Simulation:
    """A discrete-event loop around the shipped decisions: arrivals, pacing timers, server
    arrivals, responses. As in the Dispatcher, the next job is looked at only once the popped one
    has sent all its images; its requests are sized by `next_request`, as in the JobRunner.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.clock = ManualClock()
        self.scheduler = FairScheduler()
        self.pacer = Pacer(ipm=args.ipm, tpm=args.tpm, clock=self.clock)
        self.server = StrictIpmServer(args.ipm)
        self.stats = Stats()
        self.events: list[tuple[float, int, str, Any]] = []
        self.seq = itertools.count()
        self.jobs: dict[int, SimJob] = {}
        self.sending: deque[SimJob] = deque()  # the popped job, then any a 429 bounced
        self.in_flight = 0  # jobs, as the Dispatcher's max_in_flight counts them
        self.requests = 0
        self.wake_at: float | None = None

    def at(self, t: float, kind: str, payload: Any = None) -> None:
        heapq.heappush(self.events, (t, next(self.seq), kind, payload))

    def timed(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a scheduler, pacer or policy call, adding its CPU time to the tally."""
        start = time.process_time()
        result = call(*args, **kwargs)
        self.stats.cpu += time.process_time() - start
        self.stats.calls += 1
        return result

    def run(self) -> Stats:
        for t, job in make_jobs(self.args, self.rng):
            self.jobs[job.queued.job_id] = job
            self.at(t, "arrive", job)
        handlers: dict[str, Callable[[Any], None]] = {
            "arrive": self.on_arrive,
            "wake": self.on_wake,
            "server": self.on_server,
            "ok": self.on_response,
            "429": self.on_429,
        }
        while self.events:
            t, _, kind, payload = heapq.heappop(self.events)
            self.clock.advance(t - self.clock.monotonic())
            handlers[kind](payload)
            self.dispatch()
            self.track_backlog()
        return self.stats

    def on_arrive(self, job: SimJob) -> None:
        self.stats.arrived[job.queued.job_id] = self.clock.monotonic()
        self.timed(self.scheduler.push, job.queued)
        self.queue_changed(job.queued.guild_id)
        if len(self.scheduler) > self.stats.peak:
            self.stats.peak = len(self.scheduler)
            if self.stats.peak % 250 == 0:  # what a status refresh costs at this depth
                start = time.process_time()
                self.scheduler.positions()
                self.stats.positions_cpu = time.process_time() - start

    def on_wake(self, _: None) -> None:
        if self.wake_at is not None and self.clock.monotonic() >= self.wake_at:
            self.wake_at = None

    def on_server(self, request: SimRequest) -> None:
        retry_after = self.server.admit(self.clock.monotonic(), request.images)
        if retry_after is None:
            self.at(self.clock.monotonic() + self.rng.uniform(5.0, 20.0), "ok", request)
        else:
            self.at(self.clock.monotonic() + 0.05, "429", (request, retry_after))

    def on_response(self, request: SimRequest) -> None:
        job = request.job
        job.flying -= 1
        job.answered += 1
        if not job.flying and not job.free:
            self.in_flight -= 1

    def on_429(self, payload: tuple[SimRequest, int]) -> None:
        request, retry_after = payload
        job = request.job
        job.flying -= 1
        self.stats.rejected += 1
        del self.stats.served[request.number]
        self.timed(self.pacer.pause, float(retry_after))
        job.free = sorted([*job.free, *request.slots])
        if not job.flying and not job.answered:  # nothing of it is out: the job goes back
            if job in self.sending:
                self.sending.remove(job)
            job.free = []
            self.in_flight -= 1
            self.timed(self.scheduler.push_front, job.queued)
            self.queue_changed(job.queued.guild_id)
        elif job not in self.sending:
            self.sending.append(job)  # its task sends the rest again itself

    def dispatch(self) -> None:
        """The dispatcher loop and the runner's request loop: send what pacing allows."""
        while True:
            if self.sending:
                job = self.sending[0]
                images = self.request_size(job)
                if not images:
                    return
                self.send(job, images)
                if not job.free:
                    self.sending.popleft()
                continue
            head, decision = self.timed(self.next_job)
            if isinstance(decision, Wait):
                if decision.seconds is not None:
                    self.wake_in(decision.seconds)
                return
            assert isinstance(decision, Go) and head is not None
            self.timed(self.scheduler.pop)
            self.queue_changed(head.guild_id)
            job = self.jobs[head.job_id]
            job.free, job.answered = list(range(head.images)), 0
            self.in_flight += 1
            self.stats.dispatched[head.job_id] = self.clock.monotonic()
            self.sending.append(job)

    def next_job(self) -> tuple[QueuedJob | None, Go | Wait]:
        """The Dispatcher's look at the queue: the head job and the policy's decision on it."""
        head = self.scheduler.peek()
        room = self.pacer.room()
        limit = self.args.concurrency
        return head, next_job(head, room, in_flight=self.in_flight, max_in_flight=limit)

    def request_size(self, job: SimJob) -> int:
        """Images of the job's next request that may go now (0: none; a wake-up is set)."""
        queued = job.queued
        view = pending(queued.tokens, queued.images, job.free, queued.splittable)
        if self.args.static:  # what if: the next min(left, cap) images go whole or not at all
            cap = self.args.max_request_images
            view = Pending(view.shares[:cap] if queued.splittable else view.shares, False)
        decision = self.timed(
            lambda: next_request(view, self.pacer.room(), self.args.max_request_images)
        )
        if isinstance(decision, Send):
            return decision.images
        if not isinstance(decision, Wait) or decision.seconds is None:
            raise AssertionError(f"admission lets no job in that can never go: {decision}")
        self.wake_in(decision.seconds)
        return 0

    def send(self, job: SimJob, images: int) -> None:
        slots, job.free = tuple(job.free[:images]), job.free[images:]
        tokens = sum(pending(job.queued.tokens, job.queued.images, slots, True).shares)
        self.timed(self.pacer.record, images, tokens)
        job.flying += 1
        self.requests += 1
        self.stats.served[self.requests] = (self.clock.monotonic(), job.queued.guild_id, images)
        request = SimRequest(job, slots, self.requests)
        self.at(self.clock.monotonic() + self.rng.uniform(0.0, 0.2), "server", request)

    def wake_in(self, delay: float) -> None:
        if self.wake_at is None or self.clock.monotonic() + delay < self.wake_at:
            self.wake_at = self.clock.monotonic() + delay
            self.at(self.wake_at, "wake")

    def queue_changed(self, guild_id: int) -> None:
        """Keep each guild's [start, end] spans of having jobs queued."""
        mark(
            self.stats.busy[guild_id],
            self.scheduler.guild_length(guild_id) > 0,
            self.clock.monotonic(),
        )

    def track_backlog(self) -> None:
        mark(self.stats.backlog, len(self.scheduler) > 0, self.clock.monotonic())


def mark(spans: list[list[float]], queued: bool, t: float) -> None:
    """Open a [t, inf] span when something is queued, close the open one when nothing is."""
    if queued and (not spans or spans[-1][1] != math.inf):
        spans.append([t, math.inf])
    elif not queued and spans and spans[-1][1] == math.inf:
        spans[-1][1] = t


def utilisation(stats: Stats, ipm: int) -> float:
    """Images dispatched (and accepted) while jobs were waiting, per minute, over IPM.

    Each backlog span counts as [start, end): the dispatch that empties the queue ends it.
    """
    images = seconds = 0.0
    for start, end in stats.backlog:
        seconds += end - start
        images += sum(n for t, _, n in stats.served.values() if start <= t < end)
    return images / seconds * 60 / ipm if seconds else 0.0


def max_window(accepted: list[tuple[float, int]]) -> int:
    """Most accepted images in any trailing 60 s of server time."""
    best, total, left = 0, 0, 0
    for t, n in accepted:
        total += n
        while accepted[left][0] <= t - SERVER_WINDOW:
            total -= accepted[left][1]
            left += 1
        best = max(best, total)
    return best


def jain(stats: Stats) -> tuple[float, int]:
    """Jain's index (sum x)^2 / (k sum x^2) of images served per guild, averaged over intervals.

    The backlog is cut into FAIRNESS_INTERVAL slices; in each, x are the images dispatched to the
    guilds that had jobs queued throughout the slice (only those are owed an equal share), and
    slices with fewer than two such guilds are skipped. Returns (mean index, slices used).
    """
    indices = []
    for start, end in stats.backlog:
        lo = start
        while lo + FAIRNESS_INTERVAL <= end:
            hi = lo + FAIRNESS_INTERVAL
            busy = [
                g for g, spans in stats.busy.items() if any(a <= lo and hi <= b for a, b in spans)
            ]
            if len(busy) >= 2:
                x = [
                    sum(n for t, g, n in stats.served.values() if g == guild and lo <= t < hi)
                    for guild in busy
                ]
                if any(x):
                    indices.append(sum(x) ** 2 / (len(x) * sum(v * v for v in x)))
            lo = hi
    return (statistics.fmean(indices) if indices else math.nan), len(indices)


def light_waits(stats: Stats, jobs: list[tuple[float, SimJob]], count: int) -> list[float]:
    """Queue waits (arrival to dispatch) of the jobs of the `count` guilds with the least load."""
    load: dict[int, int] = defaultdict(int)
    for _, job in jobs:
        load[job.queued.guild_id] += job.queued.images
    light = set(sorted(load, key=load.__getitem__)[:count])
    return sorted(
        stats.dispatched[job.queued.job_id] - stats.arrived[job.queued.job_id]
        for _, job in jobs
        if job.queued.guild_id in light
    )


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--guilds", type=int, default=20)
    parser.add_argument("--ipm", type=int, default=50)
    parser.add_argument("--tpm", type=int, default=800_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--zipf", type=float, default=1.1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--arrive-minutes", type=float, default=60.0)
    parser.add_argument("--edits", type=float, default=0.1, help="share of jobs that are edits")
    parser.add_argument(
        "--max-request-images", type=int, default=MAX_REQUEST_IMAGES,
        help="most images per request of a generation (JobService's max_request_images)",
    )  # fmt: skip
    parser.add_argument(
        "--static", action="store_true",
        help="what if: a request waits until all its images fit instead of taking what fits",
    )  # fmt: skip
    args = parser.parse_args()

    wall = time.perf_counter()
    sim = Simulation(args)
    stats = sim.run()
    report(args, sim, stats, make_jobs(args, random.Random(args.seed)), time.perf_counter() - wall)
    print("what if (achieved / IPM, requests per image):")
    for label, change in WHAT_IFS:
        what_if = Simulation(argparse.Namespace(**{**vars(args), **change}))
        result = what_if.run()
        images = sum(n for _, _, n in result.served.values())
        print(
            f"  {label}: {utilisation(result, args.ipm):.4f}, "
            f"{what_if.requests - result.rejected} / {images} = "
            f"{(what_if.requests - result.rejected) / images:.3f}"
        )


WHAT_IFS: list[tuple[str, dict[str, Any]]] = [
    ("whole requests (no splitting)", {"static": True, "max_request_images": 10}),
    ("requests of exactly min(2, left)", {"static": True, "max_request_images": 2}),
    ("requests of 1 image", {"static": True, "max_request_images": 1}),
    ("as many as fit, at most 2", {"static": False, "max_request_images": 2}),
    ("as many as fit, at most 10", {"static": False, "max_request_images": 10}),
]


def report(
    args: argparse.Namespace,
    sim: Simulation,
    stats: Stats,
    jobs: list[tuple[float, SimJob]],
    wall: float,
) -> None:
    waits = light_waits(stats, jobs, 5)
    fairness, slices = jain(stats)
    images = sum(job.queued.images for _, job in jobs)
    edits = sum(job.edit for _, job in jobs)
    requests = sim.requests - stats.rejected
    print(
        f"jobs {args.jobs} ({edits} edits, {images} images, {requests} requests: "
        f"{requests / images:.3f} per image), guilds {args.guilds} (Zipf s={args.zipf}), "
        f"IPM {args.ipm}, burst {sim.pacer.burst}, concurrency {args.concurrency}, "
        f"max_request_images {args.max_request_images}{' static' if args.static else ''}, "
        f"seed {args.seed}"
    )
    print(
        f"simulated {sim.clock.monotonic() / 60:.1f} min in {wall:.2f} s wall; "
        f"backlog {sum(b - a for a, b in stats.backlog) / 60:.1f} min, peak {stats.peak} jobs"
    )
    print(f"achieved images/min / IPM while backlogged: {utilisation(stats, args.ipm):.4f}")
    print(f"max images in any 60 s window (server): {max_window(sim.server.accepted)} / {args.ipm}")
    print(f"429s: {stats.rejected}")
    print(f"Jain's fairness among backlogged guilds: {fairness:.4f} ({slices} x 10 min slices)")
    print(
        f"queue wait of the 5 lightest guilds ({len(waits)} jobs): "
        f"p50 {percentile(waits, 0.5):.1f} s, p99 {percentile(waits, 0.99):.1f} s"
    )
    print(
        f"scheduler+pacer+policy CPU per job: {stats.cpu / len(jobs) * 1e6:.1f} us "
        f"({stats.calls} calls); positions() at {stats.peak // 250 * 250} queued: "
        f"{stats.positions_cpu * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
