"""The relaxed speed against the fast one: cost per image, and images per minute under a strict IPM.

Runs the shipped job queue (admission, pacer, dispatcher, settlement and the relaxed lane with
its gatherer and poller) on a simulated clock, against the in-process fakes of the tests: the
Images API with a strict IPM (a request that would put more than IPM images in 60 s gets a 429)
and the Batch API, whose batches take `--batch-minutes` and do not count against the IPM.

    .venv/bin/python benchmarks/relaxed.py [--jobs 150] [--ipm 5] [--batch-minutes 10]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python benchmarks/relaxed.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.jobs.relaxed.lane import RelaxedTiming
from bot.money import format_usd
from tests.unit.jobs_harness import Harness, harness, input_image, submission

QUALITIES = {"low": 30, "medium": 50, "high": 20}
SIZES = {"1024x1024": 70, "1536x1024": 15, "1024x1536": 15}
COUNTS = {1: 70, 2: 15, 4: 15}
EDIT_SHARE = 0.15


@dataclass(frozen=True)
class Request:
    """One member's request of the mixed workload."""

    prompt: str
    quality: str
    size: str
    n: int
    edit: bool


def workload(jobs: int, seed: int = 7) -> list[Request]:
    rng = random.Random(seed)

    def pick(weights: dict[Any, int]) -> Any:
        return rng.choices(list(weights), weights=list(weights.values()))[0]

    return [
        Request(f"scene {i}", pick(QUALITIES), pick(SIZES), pick(COUNTS), rng.random() < EDIT_SHARE)
        for i in range(jobs)
    ]


async def submit(h: Harness, requests: list[Request], speed: str, first_user: int) -> None:
    for offset, r in enumerate(requests):
        edit: dict[str, Any] = {"operation": "edit", "images": (input_image(1024, 1024),)}
        await h.service.submit(
            submission(user_id=first_user + offset, prompt=r.prompt, quality=r.quality,
                       size=r.size, n=r.n, speed=speed, **(edit if r.edit else {}))
        )  # fmt: skip


@dataclass
class Run:
    """What one simulated run delivered: images per minute by speed, and its ledger."""

    per_minute: dict[str, list[int]]
    rows: list[Any]
    rate_limited: int
    most_sync_in_60s: int
    cpu_s: float


async def simulate(
    requests: list[Request], speeds: tuple[str, ...], *, ipm: int, batch_minutes: float,
    minutes: int,
) -> Run:  # fmt: skip
    timing = RelaxedTiming()  # the shipped defaults
    started = time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        async with harness(Path(tmp), ipm=ipm, tpm=10**8, latency=20.0, relaxed=timing,
                           member_queue_limit=0, guild_queue_limit=0,
                           default_model="gpt-image-2") as h:  # fmt: skip
            await h.guilds.update_config(1, changed_by=1, relaxed="allowed")
            await h.guilds.update_limits(1, changed_by=1, daily_micro_usd=0, monthly_micro_usd=0,
                                         daily_images=0, user_daily_images=0,
                                         user_daily_micro_usd=0, max_count=10)  # fmt: skip
            assert h.batches is not None
            h.batches.state.batch_seconds = batch_minutes * 60
            for index, speed in enumerate(speeds):
                await submit(h, requests, speed, first_user=1000 * (index + 1))
            per_minute: dict[str, list[int]] = {"fast": [], "relaxed": []}
            for _ in range(minutes):
                before = await _images_by_speed(h)
                await run_for(h, 60.0)
                after = await _images_by_speed(h)
                for speed in per_minute:
                    per_minute[speed].append(after[speed] - before[speed])
            rows = await h.db.fetchall("SELECT * FROM api_calls ORDER BY id")
            accepted = [c.at for c in h.backend.accepted]
            most = max((sum(1 for t in accepted if s <= t < s + 60) for s in accepted), default=0)
            return Run(per_minute, [dict(r) for r in rows], h.backend.limit_violations, most,
                       time.process_time() - started)  # fmt: skip


async def run_for(h: Harness, seconds: float) -> None:
    """Like Harness.run_for, but the clock moves only once the relaxed lane's steps (uploads,
    polls, settlement: real file and database work) are done, as they would be in an instant."""
    until = h.clock.monotonic() + seconds
    while h.clock.monotonic() < until:
        await h.quiesce()
        if h.relaxed is not None:
            await h.relaxed.idle()
            await h.quiesce()
        deadline = h.clock.next_deadline
        await h.advance(until if deadline is None else min(deadline, until))
    await h.quiesce()


async def _images_by_speed(h: Harness) -> dict[str, int]:
    rows = await h.db.fetchall(
        "SELECT speed, COALESCE(SUM(images), 0) AS images FROM api_calls GROUP BY speed"
    )
    found = {row["speed"]: row["images"] for row in rows}
    return {"fast": found.get("fast", 0), "relaxed": found.get("relaxed", 0)}


def cost_per_image(rows: list[Any], speed: str, column: str = "cost_micro_usd") -> float:
    mine = [r for r in rows if r["speed"] == speed and r["images"]]
    images = sum(r["images"] for r in mine)
    return sum(r[column] or 0 for r in mine) / images if images else 0.0


def rate(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=150)
    parser.add_argument("--ipm", type=int, default=5)
    parser.add_argument("--batch-minutes", type=float, default=10.0)
    parser.add_argument("--minutes", type=int, default=30)
    args = parser.parse_args()
    requests = workload(args.jobs)
    images = sum(r.n for r in requests)
    print(f"workload: {args.jobs} jobs, {images} images (quality {QUALITIES}, sizes {SIZES}, "
          f"counts {COUNTS}, {EDIT_SHARE:.0%} edits), gpt-image-2, IPM {args.ipm}, batches take "
          f"{args.batch_minutes:g} min, {args.minutes} simulated minutes")  # fmt: skip
    common = {"ipm": args.ipm, "batch_minutes": args.batch_minutes, "minutes": args.minutes}
    fast = await simulate(requests, ("fast",), **common)
    both = await simulate(requests, ("fast", "relaxed"), **common)

    fast_cost = cost_per_image(fast.rows, "fast")
    relaxed_cost = cost_per_image(both.rows, "relaxed")
    same_at_fast = cost_per_image(both.rows, "relaxed", "fast_cost_micro_usd")
    print("\ncost per image (from the ledger, micro-USD rounded to cents of a cent)")
    print(f"  fast                       {format_usd(round(fast_cost))}")
    print(f"  relaxed                    {format_usd(round(relaxed_cost))}"
          f"  ({relaxed_cost / same_at_fast:.3f} of the same lines at the fast price,"
          f" {format_usd(round(same_at_fast))})")  # fmt: skip

    print(f"\nimages per minute over {args.minutes} min against a strict IPM of {args.ipm}")
    print(f"  fast only:      fast {rate(fast.per_minute['fast']):.2f}/min")
    fast_rate, relaxed_rate = rate(both.per_minute["fast"]), rate(both.per_minute["relaxed"])
    print(f"  fast + relaxed: fast {fast_rate:.2f}/min + relaxed {relaxed_rate:.2f}/min"
          f" = {fast_rate + relaxed_rate:.2f}/min")  # fmt: skip
    print(
        f"  relaxed images delivered: {sum(both.per_minute['relaxed'])} of {images}; fast: "
        f"{sum(both.per_minute['fast'])} (fast only: {sum(fast.per_minute['fast'])})"
    )
    print(
        f"  429s: fast only {fast.rate_limited}, fast + relaxed {both.rate_limited}; most "
        f"synchronous images in any 60 s: {fast.most_sync_in_60s} / {both.most_sync_in_60s}"
    )
    print(f"  per-minute fast images with relaxed running: {both.per_minute['fast']}")
    print(f"  per-minute relaxed images:                   {both.per_minute['relaxed']}")
    print(f"\nCPU: {fast.cpu_s:.1f} s and {both.cpu_s:.1f} s for the two simulated runs")


if __name__ == "__main__":
    asyncio.run(main())
