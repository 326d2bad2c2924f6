"""Simulated hours of FairScheduler + Pacer against an in-process model of the fake's IPM rule."""

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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python benchmarks/scheduler.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.jobs.pacing import Pacer
from bot.jobs.scheduler import FairScheduler, QueuedJob

SERVER_WINDOW = 60.0  # tests/fakes/openai_server.py: strict IPM over a trailing 60 s
FAIRNESS_INTERVAL = 600.0  # seconds per interval of Jain's index
# Images per request as members use /imagine: mostly one, some 2-4, a few up to 10.
SIZE_MIX = {1: 70, 2: 8, 3: 4, 4: 11, 5: 1, 6: 1, 7: 1, 8: 1.5, 9: 0.5, 10: 2}
TOKENS_PER_IMAGE = (272, 1056, 4160)  # low / medium / high at 1024x1024


class SimClock:
    """The Clock protocol over a number the event loop sets."""

    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        raise NotImplementedError("the simulation is event driven")


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
class Stats:
    """What the run measured, besides the server's log."""

    arrived: dict[int, float] = field(default_factory=dict)
    dispatched: dict[int, float] = field(default_factory=dict)
    served: list[tuple[float, int, int]] = field(default_factory=list)  # (dispatch t, guild, n)
    busy: dict[int, list[list[float]]] = field(default_factory=lambda: defaultdict(list))
    backlog: list[list[float]] = field(default_factory=list)  # [start, end] of a non-empty queue
    rejected: int = 0
    cpu: float = 0.0
    calls: int = 0
    peak: int = 0
    positions_cpu: float = 0.0


def make_jobs(args: argparse.Namespace, rng: random.Random) -> list[tuple[float, QueuedJob]]:
    """Jobs with Poisson arrivals over `arrive_minutes`, guilds Zipf(s) by rank.

    With `split`, a job of n images is queued as requests of at most `split` images each (what a
    dispatcher that splits big jobs would send), numbered in order.
    """
    weights = [1 / rank**args.zipf for rank in range(1, args.guilds + 1)]
    sizes, size_weights = list(SIZE_MIX), list(SIZE_MIX.values())
    rate, t = args.jobs / (args.arrive_minutes * 60), 0.0
    jobs: list[tuple[float, QueuedJob]] = []
    for _ in range(args.jobs):
        t += rng.expovariate(rate)
        guild = rng.choices(range(args.guilds), weights)[0]
        user = guild * 1000 + rng.randrange(max(1, 12 // (guild + 1)))
        n = min(args.ipm, rng.choices(sizes, size_weights)[0])  # admission refuses n > IPM
        per_image = rng.choice(TOKENS_PER_IMAGE)
        while n > 0:
            part = min(n, args.split or n)
            n -= part
            jobs.append((t, QueuedJob(len(jobs) + 1, guild, user, part, part * per_image + 100)))
    return jobs


class Simulation:
    """A discrete-event dispatcher: arrivals, pacing timers, server arrivals, responses."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.clock = SimClock()
        self.scheduler = FairScheduler()
        self.pacer = Pacer(ipm=args.ipm, tpm=args.tpm, clock=self.clock)
        self.server = StrictIpmServer(args.ipm)
        self.stats = Stats()
        self.events: list[tuple[float, int, str, Any]] = []
        self.seq = itertools.count()
        self.in_flight = 0
        self.wake_at: float | None = None

    def at(self, t: float, kind: str, payload: Any = None) -> None:
        heapq.heappush(self.events, (t, next(self.seq), kind, payload))

    def timed(self, call: Callable[..., Any], *args: Any) -> Any:
        """Run a scheduler or pacer call, adding its CPU time to the tally."""
        start = time.process_time()
        result = call(*args)
        self.stats.cpu += time.process_time() - start
        self.stats.calls += 1
        return result

    def run(self) -> Stats:
        for t, job in make_jobs(self.args, self.rng):
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
            self.clock.t = t
            handlers[kind](payload)
            self.dispatch()
            self.track_backlog()
        return self.stats

    def on_arrive(self, job: QueuedJob) -> None:
        self.stats.arrived[job.job_id] = self.clock.t
        self.queue_changed(job.guild_id, self.timed(self.scheduler.push, job))
        if len(self.scheduler) > self.stats.peak:
            self.stats.peak = len(self.scheduler)
            if self.stats.peak % 250 == 0:  # what a status refresh costs at this depth
                start = time.process_time()
                self.scheduler.positions()
                self.stats.positions_cpu = time.process_time() - start

    def on_wake(self, _: None) -> None:
        if self.wake_at is not None and self.clock.t >= self.wake_at:
            self.wake_at = None

    def on_server(self, job: QueuedJob) -> None:
        retry_after = self.server.admit(self.clock.t, job.images)
        if retry_after is None:
            self.at(self.clock.t + self.rng.uniform(5.0, 20.0), "ok", job)
        else:
            self.at(self.clock.t + 0.05, "429", (job, retry_after))

    def on_response(self, job: QueuedJob) -> None:
        self.in_flight -= 1

    def on_429(self, payload: tuple[QueuedJob, int]) -> None:
        job, retry_after = payload
        self.in_flight -= 1
        self.stats.rejected += 1
        self.stats.served.remove((self.stats.dispatched[job.job_id], job.guild_id, job.images))
        self.timed(self.pacer.pause, float(retry_after))
        self.timed(self.scheduler.push_front, job)
        self.queue_changed(job.guild_id, None)

    def dispatch(self) -> None:
        """The dispatcher loop's body: send what pacing allows, else set a timer."""
        while self.in_flight < self.args.concurrency:
            job = self.timed(self.scheduler.peek)
            if job is None:
                return
            delay = self.timed(self.pacer.delay_for, job.images, job.tokens)
            if delay > 0:
                if self.wake_at is None or self.clock.t + delay < self.wake_at:
                    self.wake_at = self.clock.t + delay
                    self.at(self.wake_at, "wake")
                return
            self.timed(self.scheduler.pop)
            self.timed(self.pacer.record, job.images, job.tokens)
            self.queue_changed(job.guild_id, None)
            self.in_flight += 1
            self.stats.dispatched[job.job_id] = self.clock.t
            self.stats.served.append((self.clock.t, job.guild_id, job.images))
            self.at(self.clock.t + self.rng.uniform(0.0, 0.2), "server", job)

    def queue_changed(self, guild_id: int, _: object) -> None:
        """Keep each guild's [start, end] spans of having jobs queued."""
        spans = self.stats.busy[guild_id]
        queued = self.scheduler.guild_length(guild_id) > 0
        if queued and (not spans or spans[-1][1] != math.inf):
            spans.append([self.clock.t, math.inf])
        elif not queued and spans and spans[-1][1] == math.inf:
            spans[-1][1] = self.clock.t

    def track_backlog(self) -> None:
        spans, queued = self.stats.backlog, len(self.scheduler) > 0
        if queued and (not spans or spans[-1][1] != math.inf):
            spans.append([self.clock.t, math.inf])
        elif not queued and spans and spans[-1][1] == math.inf:
            spans[-1][1] = self.clock.t


def utilisation(stats: Stats, ipm: int) -> float:
    """Images dispatched (and accepted) while jobs were waiting, per minute, over IPM.

    Each backlog span counts as [start, end): the dispatch that empties the queue ends it.
    """
    images = seconds = 0.0
    for start, end in stats.backlog:
        seconds += end - start
        images += sum(n for t, _, n in stats.served if start <= t < end)
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
                    sum(n for t, g, n in stats.served if g == guild and lo <= t < hi)
                    for guild in busy
                ]
                if any(x):
                    indices.append(sum(x) ** 2 / (len(x) * sum(v * v for v in x)))
            lo = hi
    return (statistics.fmean(indices) if indices else math.nan), len(indices)


def light_waits(stats: Stats, jobs: list[tuple[float, QueuedJob]], count: int) -> list[float]:
    """Queue waits (arrival to dispatch) of the jobs of the `count` guilds with the least load."""
    load: dict[int, int] = defaultdict(int)
    for _, job in jobs:
        load[job.guild_id] += job.images
    light = set(sorted(load, key=load.__getitem__)[:count])
    return sorted(
        stats.dispatched[job.job_id] - stats.arrived[job.job_id]
        for _, job in jobs
        if job.guild_id in light
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
    parser.add_argument("--split", type=int, default=0, help="max images per request (0: no split)")
    args = parser.parse_args()

    wall = time.perf_counter()
    sim = Simulation(args)
    stats = sim.run()
    jobs = make_jobs(args, random.Random(args.seed))
    report(args, sim, stats, jobs, time.perf_counter() - wall)
    if not args.split:
        # Requests of n images need n free places in the strict window at one instant; with spread
        # dispatches that costs idle time, so show what splitting jobs into 1-image requests gives.
        split = argparse.Namespace(**{**vars(args), "split": 1})
        what_if = Simulation(split).run()
        print(
            f"what if every image were its own request: achieved "
            f"{utilisation(what_if, args.ipm):.4f}, 429s {what_if.rejected}"
        )


def report(
    args: argparse.Namespace,
    sim: Simulation,
    stats: Stats,
    jobs: list[tuple[float, QueuedJob]],
    wall: float,
) -> None:
    waits = light_waits(stats, jobs, 5)
    fairness, slices = jain(stats)
    images = sum(job.images for _, job in jobs)
    print(
        f"jobs {args.jobs} ({len(jobs)} requests, {images} images), "
        f"guilds {args.guilds} (Zipf s={args.zipf}), "
        f"IPM {args.ipm}, burst {sim.pacer.burst}, concurrency {args.concurrency}, seed {args.seed}"
    )
    print(
        f"simulated {sim.clock.t / 60:.1f} min in {wall:.2f} s wall; "
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
        f"scheduler+pacer CPU per job: {stats.cpu / len(jobs) * 1e6:.1f} us "
        f"({stats.calls} calls); positions() at {stats.peak // 250 * 250} queued: "
        f"{stats.positions_cpu * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
