"""Admission time against history: 30 submissions after 0, 1,000 and 10,000 finished jobs.

The unit test (tests/unit/jobs/admit/test_admission.py) asserts that admission's database work
does not grow with history; this prints the time it takes, which depends on the machine.

    .venv/bin/python benchmarks/admission_history.py [--history 0,1000,10000] [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/admission_history.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.guild_settings import GuildLimits
from tests.unit.jobs.admit.test_admission import insert_history
from tests.unit.jobs_harness import harness, submission


async def timings(folder: Path, history: int, runs: int) -> list[float]:
    """Seconds per submission, sorted, for `runs` members after `history` finished jobs."""
    async with harness(folder, start=False, member_queue_limit=0, guild_queue_limit=0) as h:
        no_limits = {f.name: 0 for f in fields(GuildLimits) if f.name != "max_count"}
        await h.guilds.update_limits(1, changed_by=9, **no_limits)
        await insert_history(h, history)
        taken = []
        for user in range(runs):
            started = time.perf_counter()
            await h.service.submit(submission(user_id=user))
            taken.append(time.perf_counter() - started)
        return sorted(taken)


async def main(histories: list[int], runs: int) -> None:
    print(f"{'history':>8} {'p50 ms':>8} {'max ms':>8}")
    for history in histories:
        with tempfile.TemporaryDirectory() as folder:
            taken = await timings(Path(folder), history, runs)
        print(f"{history:>8} {statistics.median(taken) * 1000:>8.1f} {taken[-1] * 1000:>8.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", default="0,1000,10000")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main([int(n) for n in args.history.split(",")], args.runs))
