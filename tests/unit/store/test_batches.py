"""Relaxed batches: opening one, or giving its jobs back, takes the jobs' guild turns first."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from bot.db import Database
from bot.store import batches, jobs as store
from tests.unit.db.test_postgres_locks import waits_for_a_lock
from tests.unit.store.test_reservations import new_job

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)


async def relaxed_jobs(db: Database, guild: int, count: int) -> list[int]:
    job = replace(new_job(7, NOW, 100, 1), guild_id=guild, speed="relaxed")
    async with db.transaction() as conn:
        made = [await store.insert_job(conn, job) for _ in range(count)]
    return [made_job.id for made_job in made]


async def test_opening_a_batch_waits_for_its_guilds_turn(
    two_processes: tuple[Database, Database],
) -> None:
    """A Cancel holds the guild's lock, then its job's row, then the member's queued counter; a
    batch taking several of that member's jobs must wait for the lock before any row, or the two
    lock the job rows and the counter in opposite orders and deadlock (the second trial)."""
    cancelling, batching = two_processes
    ids = await relaxed_jobs(cancelling, 5, 2) + await relaxed_jobs(cancelling, 3, 1)
    async with cancelling.transaction() as conn:
        await conn.lock_guild(5)

        async def open_batch() -> list[int]:
            async with batching.transaction() as batch_conn:
                opened = await batches.open_batch(
                    batch_conn, key="k", model="gpt-image-1", operation="generate",
                    job_ids=ids, now=NOW,
                )  # fmt: skip
            assert opened is not None
            return opened[1]

        opening = asyncio.create_task(open_batch())
        assert await waits_for_a_lock(cancelling, opening)
        assert await conn.fetchone("SELECT 1 FROM jobs WHERE id = ? AND state = 'queued'",
                                   (ids[0],)) is not None  # fmt: skip
    assert sorted(await opening) == sorted(ids)
