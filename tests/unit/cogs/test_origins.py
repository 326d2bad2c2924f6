"""Origins in one process: stored at acknowledgement in cluster mode only, never logged, and
forgotten once their token has expired."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import discord
import pytest

from bot.clock import ManualClock
from bot.records import InteractionOrigin, JobRecord
from cogs._origins import Origins
from tests.unit.cogs.fakes import NOW, FakeInteraction, bot_with, clock, job

APP = 555
TOKEN = "aW50ZXJhY3Rpb246OTk6c2VjcmV0LXRva2Vu"  # the shape of one; not a real credential


@dataclass
class FakeBook:
    """bot/jobs/settle/origins.py's OriginBook: records what it is asked to store."""

    shared: bool
    failing: bool = False
    remembered: list[InteractionOrigin] = field(default_factory=list)
    lookups: int = 0

    async def remember(self, origin: InteractionOrigin) -> None:
        if self.failing:
            raise RuntimeError(f"the database refused {origin.token}")
        self.remembered.append(origin)

    async def find(self, job_id: int) -> InteractionOrigin | None:
        self.lookups += 1
        return None

    async def forget(self, job_id: int) -> None:
        return None


@dataclass
class FakeServices:
    origins: FakeBook
    clock: ManualClock = field(default_factory=clock)


@dataclass
class TokenInteraction(FakeInteraction):
    application_id: int = APP
    token: str = TOKEN


def origins_with(book: FakeBook) -> tuple[Origins, FakeServices]:
    services = FakeServices(book)
    return Origins(bot_with(services)), services


async def acknowledge(
    origins: Origins, record: JobRecord, *, private: bool = False, at: datetime = NOW
) -> None:
    seen = cast(discord.Interaction, TokenInteraction(client=None, created_at=at))
    origins.track(record.id, seen)
    await origins.acknowledged(seen, record.id, private=private, shown="queued")


async def test_in_cluster_mode_the_origin_is_stored_at_acknowledgement() -> None:
    book = FakeBook(shared=True)
    origins, _ = origins_with(book)
    await acknowledge(origins, job(7), private=True)
    assert book.remembered == [InteractionOrigin(7, APP, TOKEN, NOW, private=True)]
    assert await origins.live(job(7)) is not None  # and this process shows it itself


async def test_with_one_process_nothing_is_stored() -> None:
    book = FakeBook(shared=False)
    origins, _ = origins_with(book)
    await acknowledge(origins, job(7))
    assert book.remembered == []
    assert await origins.live(job(7)) is not None


async def test_an_origin_that_cannot_be_stored_is_logged_without_its_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    book = FakeBook(shared=True, failing=True)
    origins, _ = origins_with(book)
    with caplog.at_level(logging.DEBUG):
        await acknowledge(origins, job(7))
    assert "could not store the origin of job 7" in caplog.text
    assert TOKEN not in caplog.text
    assert await origins.live(job(7)) is not None  # this process still shows the job


@pytest.mark.parametrize("shared", [True, False])
async def test_expired_origins_are_forgotten_in_cluster_mode_only(shared: bool) -> None:
    origins, services = origins_with(FakeBook(shared=shared))
    await acknowledge(origins, job(1))
    services.clock.advance(15 * 60)
    await acknowledge(origins, job(2), at=services.clock.now())
    # In cluster mode another process may end job 1: nothing here would ever forget it.
    assert (1 in origins) is not shared
    assert 2 in origins


async def test_a_job_older_than_a_token_is_not_looked_up() -> None:
    book = FakeBook(shared=True)
    origins, services = origins_with(book)
    services.clock.advance(15 * 60)
    assert await origins.live(job(7)) is None
    assert book.lookups == 0


async def test_a_job_with_no_stored_origin_is_looked_up_until_its_command_is_long_done() -> None:
    book = FakeBook(shared=True)
    origins, services = origins_with(book)
    services.clock.advance(1)  # its command may still be storing the origin
    assert await origins.live(job(7)) is None
    assert await origins.live(job(7)) is None
    assert book.lookups == 2
    services.clock.advance(10)  # long acknowledged: no origin will be stored now
    assert await origins.live(job(7)) is None
    assert await origins.live(job(7)) is None
    assert book.lookups == 3
