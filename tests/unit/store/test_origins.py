"""Interaction origins: stored per job, read back whole, deleted by job or once expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.db import Database, open_database
from bot.domain import ImageOptions
from bot.records import InteractionOrigin
from bot.store import jobs as jobs_store, origins as store

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpzZWNyZXQ"  # the shape of one; not a real credential
APP = 2**62 + 7  # snowflakes need 64 bits


async def new_job(db: Database) -> int:
    new = jobs_store.NewJob(guild_id=1, channel_id=2, user_id=3, operation="generate",
                            prompt="a fox", options=ImageOptions(model="gpt-image-1"),
                            reserved_micro_usd=40_000, reserved_images=1, estimated_tokens=1000,
                            source_job_id=None, created_at=NOW)  # fmt: skip
    async with db.transaction() as conn:
        return (await jobs_store.insert_job(conn, new)).id


def origin(job_id: int, created_at: datetime = NOW, *, private: bool = False) -> InteractionOrigin:
    return InteractionOrigin(job_id, APP, TOKEN, created_at, private)


async def test_an_origin_reads_back_as_stored_and_none_for_another_job(
    db_target: Path | str,
) -> None:
    async with open_database(db_target) as db:
        job, other = await new_job(db), await new_job(db)
        async with db.transaction() as conn:
            await store.put(conn, origin(job, private=True))
        assert await store.get(db, job) == origin(job, private=True)
        assert await store.get(db, other) is None


async def test_storing_again_replaces_the_origin(db_target: Path | str) -> None:
    async with open_database(db_target) as db:
        job = await new_job(db)
        later = NOW + timedelta(seconds=5)
        async with db.transaction() as conn:
            await store.put(conn, origin(job))
            await store.put(conn, origin(job, later, private=True))
        assert await store.get(db, job) == origin(job, later, private=True)


async def test_delete_removes_one_jobs_origin(db_target: Path | str) -> None:
    async with open_database(db_target) as db:
        job, other = await new_job(db), await new_job(db)
        async with db.transaction() as conn:
            await store.put(conn, origin(job))
            await store.put(conn, origin(other))
            await store.delete(conn, job)
        assert await store.get(db, job) is None
        assert await store.get(db, other) == origin(other)


async def test_only_origins_created_before_the_cutoff_are_purged(db_target: Path | str) -> None:
    async with open_database(db_target) as db:
        old, fresh = await new_job(db), await new_job(db)
        cutoff = NOW - timedelta(minutes=15)
        async with db.transaction() as conn:
            await store.put(conn, origin(old, cutoff - timedelta(seconds=1)))
            await store.put(conn, origin(fresh, cutoff))
            assert await store.delete_created_before(conn, cutoff) == 1
        assert await store.get(db, old) is None
        assert await store.get(db, fresh) == origin(fresh, cutoff)


async def test_an_origin_needs_its_job(db_target: Path | str) -> None:
    async with open_database(db_target) as db:
        with pytest.raises(Exception, match=r"(?i)foreign key"):
            async with db.transaction() as conn:
                await store.put(conn, origin(999))


async def test_several_origins_are_stored_in_one_statement_the_last_of_a_job_winning(
    db_target: Path | str,
) -> None:
    async with open_database(db_target) as db:
        first, second = await new_job(db), await new_job(db)
        await store.put(db, origin(first))
        later = NOW + timedelta(seconds=3)
        await store.put_all(
            db, [origin(first, later), origin(second), origin(second, later, private=True)]
        )
        assert await store.get(db, first) == origin(first, later)
        assert await store.get(db, second) == origin(second, later, private=True)
        await store.put_all(db, [])  # nothing to store
