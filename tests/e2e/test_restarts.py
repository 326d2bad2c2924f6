"""Restarts (issue 22, case 20): the pacer rebuilds the last minute from the ledger, so the
account's images-per-minute limit holds across a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.harness import Harness, harness

pytestmark = pytest.mark.e2e


def image_calls(h: Harness) -> int:
    return len([r for r in h.openai.requests if "/images/" in r.path])


async def test_a_restart_remembers_the_minutes_requests(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.openai.ipm = 2  # the provider counts 2 images a minute, and refuses more with a 429
        h.openai.clock = h.clock.monotonic  # its minute follows the test's clock
        await h.start_bot(openai_ipm=2, openai_tier=1)
        await h.wait_result(await h.imagine("two boats", quality="low", count=2))
        await h.stop_bot()
        await h.start_bot(openai_ipm=2, openai_tier=1)
        handle = await h.imagine("a third boat", quality="low")
        await handle.wait_original(lambda m: "next in line" in m.content)
        await asyncio.sleep(0.5)
        assert image_calls(h) == 1  # nothing went out inside the provider's minute
        h.advance(61)
        await h.imagine("a fourth boat", member=h.bob, quality="low")  # wakes the queue
        assert (await h.wait_result(handle)).attachments
        assert [row["http_status"] for row in h.ledger()][:2] == [200, 200]  # no 429
