"""Status edits of one message: coalesced, rate-limited, one at a time, latest state wins."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, cast

import discord

from bot.clock import ManualClock
from cogs._reply import LiveReply
from cogs._status import STATUS_EDIT_INTERVAL, Origin, Status


class FakeInteraction:
    """Records edits of the original response; `hold` keeps each edit in flight until set."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.edits: list[tuple[float, str]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.hold: asyncio.Event | None = None

    async def edit_original_response(self, *, content: str, attachments: Any, **_: Any) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.hold is not None:
                await self.hold.wait()
            self.edits.append((self.clock.monotonic(), content))
        finally:
            self.in_flight -= 1


def origin_for(clock: ManualClock) -> tuple[Origin, FakeInteraction]:
    interaction = FakeInteraction(clock)
    origin = Origin(LiveReply(cast(discord.Interaction, interaction)), clock)
    origin.acknowledge(private=False, shown="position 50")
    return origin, interaction


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_statuses_within_the_interval_become_one_edit_showing_the_latest() -> None:
    clock = ManualClock()
    origin, interaction = origin_for(clock)
    for place in (40, 30, 20):
        await origin.show(Status(f"position {place}"))
        clock.advance(0.5)
    await settle()
    assert interaction.edits == []  # the reply itself was the last edit, 1.5 s ago
    clock.advance(STATUS_EDIT_INTERVAL - 1.5 - 0.1)
    await settle()
    assert interaction.edits == []
    clock.advance(0.1)
    await settle()
    assert interaction.edits == [(STATUS_EDIT_INTERVAL, "position 20")]


async def test_one_edit_at_a_time_even_when_discord_is_slow() -> None:
    clock = ManualClock()
    origin, interaction = origin_for(clock)
    interaction.hold = asyncio.Event()
    clock.advance(STATUS_EDIT_INTERVAL)
    await origin.show(Status("Rendering"))
    await settle()
    assert interaction.in_flight == 1
    for step in range(5):  # Discord takes 10 s to answer; newer statuses keep coming
        await origin.show(Status(f"Rendering, preview {step}"))
        clock.advance(2.0)
        await settle()
    assert interaction.most_in_flight == 1
    interaction.hold.set()
    await settle()
    clock.advance(STATUS_EDIT_INTERVAL)
    await settle()
    assert [text for _, text in interaction.edits] == ["Rendering", "Rendering, preview 4"]
    assert interaction.most_in_flight == 1


async def test_close_drops_what_is_pending_and_waits_for_an_edit_under_way() -> None:
    clock = ManualClock()
    origin, interaction = origin_for(clock)
    await origin.show(Status("position 10"))
    await origin.close()
    clock.advance(STATUS_EDIT_INTERVAL)
    await settle()
    assert interaction.edits == []
    late, interaction = origin_for(clock)
    interaction.hold = asyncio.Event()
    clock.advance(STATUS_EDIT_INTERVAL)
    await late.show(Status("Rendering"))
    closing = asyncio.ensure_future(late.close())
    await settle()
    assert not closing.done()  # the final message must not overtake this edit
    interaction.hold.set()
    await closing
    assert [text for _, text in interaction.edits] == ["Rendering"]


class CreatedInteraction(FakeInteraction):
    """An interaction created at a known instant (a rebuilt origin counts from it)."""

    def __init__(self, clock: ManualClock, created_at: datetime) -> None:
        super().__init__(clock)
        self.created_at = created_at


def resumed(clock: ManualClock, age: float) -> tuple[Origin, FakeInteraction]:
    """An origin rebuilt in another process for an interaction created `age` seconds ago."""
    interaction = CreatedInteraction(clock, clock.now() - timedelta(seconds=age))
    origin = Origin(LiveReply(cast(discord.Interaction, interaction)), clock)
    origin.resume(private=True)
    return origin, interaction


async def test_a_rebuilt_origin_counts_the_commands_reply_as_its_last_edit() -> None:
    clock = ManualClock()
    origin, interaction = resumed(clock, age=1.0)  # the reply went out at most 1 s ago
    assert origin.private and origin.acknowledged.is_set()
    await origin.show(Status("Rendering"))
    clock.advance(STATUS_EDIT_INTERVAL - 1.0 - 0.1)
    await settle()
    assert interaction.edits == []
    clock.advance(0.1)
    await settle()
    assert interaction.edits == [(STATUS_EDIT_INTERVAL - 1.0, "Rendering")]


async def test_a_rebuilt_origin_of_an_old_interaction_edits_at_once() -> None:
    clock = ManualClock()
    origin, interaction = resumed(clock, age=61.0)
    await origin.show(Status("Rendering"))
    await settle()
    assert interaction.edits == [(0.0, "Rendering")]
