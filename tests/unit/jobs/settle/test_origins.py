"""OriginBook: origins shared through the database in cluster mode only, while tokens live, many
in one write under load."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from bot.clock import ManualClock
from bot.db import Database, Params, Row, open_database
from bot.jobs.settle.origins import PURGE_INTERVAL, TOKEN_LIFE, OriginBook
from bot.records import InteractionOrigin
from bot.store import origins as store
from tests.unit.store.test_origins import new_job

START = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpzZWNyZXQ"  # the shape of one; not a real credential


def origin(job_id: int, clock: ManualClock) -> InteractionOrigin:
    return InteractionOrigin(job_id, 77, TOKEN, clock.now(), private=False)


async def stored(db: Database, job_id: int) -> InteractionOrigin | None:
    return await store.get(db, job_id)


async def test_with_one_process_nothing_is_stored(db_target: Path | str) -> None:
    clock = ManualClock(START)
    async with open_database(db_target) as db:
        book = OriginBook(db=db, clock=clock, shared=False)
        job = await new_job(db)
        await book.remember(origin(job, clock))
        assert await stored(db, job) is None
        assert await book.find(job) is None


async def test_another_process_finds_the_origin_until_the_job_ends(db_target: Path | str) -> None:
    clock = ManualClock(START)
    async with open_database(db_target) as db:
        admitting = OriginBook(db=db, clock=clock, shared=True)
        delivering = OriginBook(db=db, clock=clock, shared=True)
        job = await new_job(db)
        await admitting.remember(origin(job, clock))
        assert await delivering.find(job) == origin(job, clock)
        await delivering.forget(job)
        assert await stored(db, job) is None
        assert await admitting.find(job) is None


async def test_an_expired_token_is_not_found_and_is_purged_by_the_next_store(
    db_target: Path | str,
) -> None:
    clock = ManualClock(START)
    async with open_database(db_target) as db:
        book = OriginBook(db=db, clock=clock, shared=True)
        old, new = await new_job(db), await new_job(db)
        kept = origin(old, clock)
        await book.remember(kept)
        clock.advance(TOKEN_LIFE.total_seconds() - 1)
        assert await book.find(old) == kept  # still alive
        clock.advance(1)
        assert await book.find(old) is None  # 15 minutes old: Discord refuses it
        assert await stored(db, old) == kept
        clock.advance(1)
        await book.remember(origin(new, clock))  # the last purge was over PURGE_INTERVAL ago
        assert await stored(db, old) is None
        assert await stored(db, new) is not None


async def test_purges_wait_for_their_interval(db_target: Path | str) -> None:
    clock = ManualClock(START)
    async with open_database(db_target) as db:
        book = OriginBook(db=db, clock=clock, shared=True)
        first, second, third, expired = [await new_job(db) for _ in range(4)]
        await book.remember(origin(first, clock))  # purges (nothing expired yet)
        gone = InteractionOrigin(expired, 77, TOKEN, clock.now() - TOKEN_LIFE, private=False)
        async with db.transaction() as conn:  # e.g. stored by a process that then stopped
            await store.put(conn, gone)
        clock.advance(PURGE_INTERVAL - 1)
        await book.remember(origin(second, clock))
        assert await stored(db, expired) == gone  # no purge yet: one a minute at most
        clock.advance(1)
        await book.remember(origin(third, clock))
        assert await stored(db, expired) is None
        assert await stored(db, first) is not None


class CountedWrites:
    """A Database whose writes are counted, and fail while `failing` is set."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.writes = 0
        self.failing = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    async def write(self, sql: str, params: Params = (), *, locks: Sequence[int] = ()) -> list[Row]:
        self.writes += 1
        await asyncio.sleep(0)  # in flight: others acknowledge meanwhile
        if self.failing:
            raise sqlite3.OperationalError("disk I/O error")
        return await self._db.write(sql, params, locks=locks)


async def test_origins_acknowledged_together_are_stored_in_one_write(
    db_target: Path | str,
) -> None:
    clock = ManualClock(START)
    async with open_database(db_target) as db:
        counted = CountedWrites(db)
        book = OriginBook(db=cast(Database, counted), clock=clock, shared=True)
        jobs = [await new_job(db) for _ in range(20)]
        await asyncio.gather(*(book.remember(origin(job, clock)) for job in jobs))
        assert [await stored(db, job) for job in jobs] == [origin(job, clock) for job in jobs]
        assert counted.writes == 1  # all twenty came before the write went out
        await book.remember(origin(jobs[0], clock))  # idle again: written at once, alone
        assert counted.writes == 2


async def test_a_failed_write_fails_each_of_its_origins_and_the_next_one_is_written(
    tmp_path: Path,
) -> None:
    clock = ManualClock(START)
    async with open_database(tmp_path / "bot.sqlite3") as db:
        counted = CountedWrites(db)
        book = OriginBook(db=cast(Database, counted), clock=clock, shared=True)
        first, second, third = [await new_job(db) for _ in range(3)]
        counted.failing = True
        outcomes = await asyncio.gather(
            book.remember(origin(first, clock)), book.remember(origin(second, clock)),
            return_exceptions=True,
        )  # fmt: skip
        assert [type(o) for o in outcomes] == [sqlite3.OperationalError] * 2
        counted.failing = False
        await book.remember(origin(third, clock))
        assert await stored(db, third) == origin(third, clock)
        assert await stored(db, first) is None


async def test_a_cancelled_write_leaves_no_caller_waiting_forever(tmp_path: Path) -> None:
    clock = ManualClock(START)
    async with open_database(tmp_path / "bot.sqlite3") as db:
        counted = CountedWrites(db)
        book = OriginBook(db=cast(Database, counted), clock=clock, shared=True)
        first, second = await new_job(db), await new_job(db)
        waiting = asyncio.gather(
            book.remember(origin(first, clock)), book.remember(origin(second, clock)),
            return_exceptions=True,
        )  # fmt: skip
        await asyncio.sleep(0)  # the writer has started its write
        writers = [t for t in asyncio.all_tasks() if t.get_name() == "origins-writer"]
        assert len(writers) == 1
        writers[0].cancel()  # as at the loop's close
        outcomes = await asyncio.wait_for(waiting, 5)
        assert [type(o) for o in outcomes] == [RuntimeError] * 2  # told, not left waiting
