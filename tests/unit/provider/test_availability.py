"""Provider availability: /models asked, its failures tolerated, and what each side lacks."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.clock import ManualClock
from bot.errors import UpstreamUnavailableError
from bot.provider.availability import (
    REFRESH_SECONDS,
    ProviderModels,
    missing_from_catalog,
    missing_from_provider,
)

CATALOG = ("gpt-image-1.5", "gpt-image-2", "gpt-image-2.5-flare")


class Listing:
    """A scripted /models: each call answers the next list, or raises the next error."""

    def __init__(self, *answers: list[str] | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self) -> list[str]:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_unknown_until_listed_then_only_listed_models_are_offered() -> None:
    models = ProviderModels(Listing(["gpt-image-2"]), ManualClock())
    assert models.offers("gpt-image-2.5-flare")  # never asked: everything is offered
    assert await models.refresh()
    assert models.offers("gpt-image-2") and not models.offers("gpt-image-2.5-flare")


async def test_a_failed_first_listing_offers_everything_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    models = ProviderModels(
        Listing(UpstreamUnavailableError("503 from the gateway")), ManualClock()
    )
    with caplog.at_level(logging.WARNING):
        assert not await models.refresh()
    assert models.ids is None and models.offers("gpt-image-2.5-flare")
    assert "503 from the gateway" in caplog.text and "offering every catalog model" in caplog.text


async def test_a_later_failure_keeps_the_last_list_and_the_daily_ask_refreshes_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    listing = Listing(["gpt-image-2"], UpstreamUnavailableError("timeout"), ["gpt-image-2.5-flare"])
    clock = ManualClock()
    models = ProviderModels(listing, clock)
    await models.refresh()
    task = asyncio.create_task(models.refresh_daily())
    try:
        await clock.run_until_idle(max_seconds=REFRESH_SECONDS)
        assert listing.calls == 2 and models.ids == frozenset({"gpt-image-2"})
        assert "keeping its list from 2026-01-01 00:00 UTC" in caplog.text
        await clock.run_until_idle(max_seconds=REFRESH_SECONDS)
        assert listing.calls == 3 and models.ids == frozenset({"gpt-image-2.5-flare"})
    finally:
        task.cancel()


def test_each_side_names_what_the_other_lacks() -> None:
    listed = [
        "gpt-image-2",
        "gpt-image-2-2026-04-21",
        "gpt-image-2.6-sunburst",
        "dall-e-3",
        "gpt-5",
    ]
    assert missing_from_provider(CATALOG, listed) == ["gpt-image-1.5", "gpt-image-2.5-flare"]
    assert missing_from_catalog(CATALOG, listed) == ["gpt-image-2.6-sunburst"]
