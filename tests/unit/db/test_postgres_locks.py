"""Advisory locks on PostgreSQL: one holder per session key, freed when its connection ends;
a guild's transaction locks taken by Database.write."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.db import Database, DriverError, open_database
from bot.db.locks import DISPATCHER_LEASE, identify_key

# The backend holding a bigint advisory key (objsubid 1: the one-key form).
HOLDER = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
    " AND classid = ? AND objid = ? AND granted"
)  # a bigint key shows as its high (classid) and low (objid) 32 bits


async def kill_holder(db: Database, key: int) -> None:
    """End the backend that holds `key`, as the server does when its client's socket closes."""
    row = await db.fetchone(HOLDER, (key >> 32, key & 0xFFFFFFFF))
    assert row is not None
    await db.fetchone("SELECT pg_terminate_backend(?)", (row[0],))


async def test_two_databases_cannot_both_hold_the_dispatcher_lease(
    two_processes: tuple[Database, Database],
) -> None:
    first, second = two_processes
    held = await first.try_session_lock(DISPATCHER_LEASE)
    assert held is not None
    assert await second.try_session_lock(DISPATCHER_LEASE) is None
    assert (
        await first.try_session_lock(DISPATCHER_LEASE) is None
    )  # a second connection of its own neither
    assert await held.alive()
    await held.release()
    taken = await second.try_session_lock(DISPATCHER_LEASE)
    assert taken is not None
    await taken.release()


async def test_a_closed_holder_connection_frees_the_lease(
    two_processes: tuple[Database, Database],
) -> None:
    first, second = two_processes
    held = await first.try_session_lock(DISPATCHER_LEASE)
    assert held is not None
    await kill_holder(second, DISPATCHER_LEASE)
    assert not await held.alive()
    taken = await second.try_session_lock(DISPATCHER_LEASE)
    assert taken is not None and await taken.alive()
    assert await first.try_session_lock(DISPATCHER_LEASE) is None
    await held.release()  # a lost lock's release is harmless and frees nothing of the other's
    assert await taken.alive()
    assert await first.try_session_lock(DISPATCHER_LEASE) is None
    await taken.release()


async def test_the_lease_key_blocks_no_other_lock(two_processes: tuple[Database, Database]) -> None:
    first, second = two_processes
    held = await first.try_session_lock(DISPATCHER_LEASE)
    assert held is not None
    other = await second.try_session_lock(identify_key(0))
    assert other is not None  # an IDENTIFY bucket is free while the lease is held
    async with second.transaction() as conn:
        await conn.lock_guild(DISPATCHER_LEASE)  # a guild whose folded id is 3: (1, 3) is free
    await other.release()
    await held.release()


async def test_sqlite_holds_every_lock_at_once(tmp_path: Path) -> None:
    async with open_database(tmp_path / "bot.sqlite3") as db:
        first = await db.try_session_lock(DISPATCHER_LEASE)
        second = await db.try_session_lock(DISPATCHER_LEASE)
        assert first is not None and second is not None  # one process: nobody to refuse
        assert await first.alive()
        await first.release()


# ---- Database.write: a guild's locks and one statement, in one trip ---------------------------

WAITING = "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"


async def waits_for_a_lock(db: Database, task: asyncio.Task[Any]) -> bool:
    """Whether `task` came to wait for an advisory lock (5 s at most), rather than finishing."""
    for _ in range(500):
        if task.done():
            return False
        if await db.fetchone(WAITING) is not None:
            return not task.done()
        await asyncio.sleep(0.01)
    return False


async def test_a_write_waits_for_its_guilds_lock_and_reads_what_the_holder_committed(
    two_processes: tuple[Database, Database],
) -> None:
    first, second = two_processes
    async with first.transaction() as conn:
        await conn.lock_guild(7)
        await conn.execute("INSERT INTO meta (key, value) VALUES ('held', '1')")
        counted = asyncio.create_task(second.write(
            "INSERT INTO meta (key, value) SELECT 'count', CAST(COUNT(*) AS TEXT) FROM meta"
            " RETURNING value", locks=(7,),
        ))  # fmt: skip
        assert await waits_for_a_lock(first, counted)
    # Its statement began after our commit: it counted our row (READ COMMITTED, a snapshot per
    # statement), as a reservation counts the job the lock's previous holder inserted.
    assert [row[0] for row in await counted] == ["1"]


async def test_a_failed_write_writes_nothing_and_frees_its_locks(
    two_processes: tuple[Database, Database],
) -> None:
    first, second = two_processes
    text = "it's 100% 'quoted'; DROP TABLE meta; --"  # merged into the query by psycopg, quoted
    await first.write("INSERT INTO meta (key, value) VALUES (?, ?)", ("k", text), locks=(7, 8))
    with pytest.raises(DriverError):  # the key is taken
        await first.write("INSERT INTO meta (key, value) VALUES ('k', 'again')", locks=(7,))
    async with second.transaction() as conn:  # not held by the failed write's session
        await conn.lock_guild(7)
    rows = await first.write("SELECT value FROM meta WHERE key = ?", ("k",), locks=(7,))
    assert [row["value"] for row in rows] == [text]  # and its connection still serves
