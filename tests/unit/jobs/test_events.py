"""The "succeeded" event carries the kept results, so delivery posts them without asking again."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.clock import ManualClock
from tests.fakes.image_backend import tiny_png
from tests.unit.jobs_harness import START, harness, submission

pytestmark = pytest.mark.asyncio


async def test_a_succeeded_event_carries_the_images_in_order(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        admitted = await h.service.submit(submission(n=3))
        await h.run_all()
        [event] = h.sink.of("succeeded")
        assert event.job.id == admitted.job.id
        assert [f.data for f in event.results] == [tiny_png(1), tiny_png(2), tiny_png(3)]
        assert [f.index for f in event.results] == [0, 1, 2]
        assert all(
            f.role == "result" and h.files.resolve(f.relpath).is_file() for f in event.results
        )


async def test_results_announced_again_after_a_restart_come_with_their_files(
    tmp_path: Path,
) -> None:
    clock = ManualClock(START)
    async with harness(tmp_path, clock=clock) as first:
        unseen = await first.service.submit(submission(n=2))
        await first.run_all()
    async with harness(tmp_path, clock=clock) as second:
        await second.drain()
        [event] = second.sink.of("succeeded")
        assert event.job.id == unseen.job.id
        assert [f.data for f in event.results] == [tiny_png(1), tiny_png(2)]
