"""A reported cost above its reservation: one warning a day per provider and model."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from bot.clock import ManualClock
from bot.jobs.settle.overruns import Overruns


def test_an_overrun_is_told_once_a_day_per_provider_and_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(datetime(2026, 11, 16, 23, 0, tzinfo=UTC))
    overruns = Overruns(clock)
    with caplog.at_level(logging.WARNING):
        overruns.note("litellm: x-litellm-response-cost header", "gpt-image-2", 900, 1_000)
        assert caplog.records == []  # within the reservation: nothing to say
        for _ in range(3):
            overruns.note("litellm: x-litellm-response-cost header", "gpt-image-2", 1_200, 1_000)
        overruns.note("litellm: x-litellm-response-cost header", "gpt-image-1.5", 1_200, 1_000)
        overruns.note("lumenfall: metadata.cost", "gpt-image-2", 1_200, 1_000)
        assert len(caplog.records) == 3
        clock.advance(2 * 3600)  # the next UTC day
        overruns.note("litellm: x-litellm-response-cost header", "gpt-image-2", 1_200, 1_000)
    told = [r.getMessage() for r in caplog.records]
    assert len(told) == 4
    assert all("[cost] markup_percent" in line for line in told)
    assert told[0].startswith("litellm billed 1200 micro-USD for a gpt-image-2 call")
