"""Session advisory locks on PostgreSQL: one holder per key, freed when its connection ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bot.db import Database, open_database
from bot.db.locks import DISPATCHER_LEASE, identify_key
from tests.pg import PostgresServer

# The backend holding a bigint advisory key (objsubid 1: the one-key form).
HOLDER = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
    " AND classid = ? AND objid = ? AND granted"
)  # a bigint key shows as its high (classid) and low (objid) 32 bits


@pytest.fixture
async def two(pg_server: PostgresServer) -> AsyncIterator[tuple[Database, Database]]:
    """Two processes' Database objects on one PostgreSQL database."""
    url = pg_server.new_database()
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(open_database(url))
        second = await stack.enter_async_context(open_database(url))
        yield first, second
    pg_server.drop_database(url)


async def kill_holder(db: Database, key: int) -> None:
    """End the backend that holds `key`, as the server does when its client's socket closes."""
    row = await db.fetchone(HOLDER, (key >> 32, key & 0xFFFFFFFF))
    assert row is not None
    await db.fetchone("SELECT pg_terminate_backend(?)", (row[0],))


async def test_two_databases_cannot_both_hold_the_dispatcher_lease(
    two: tuple[Database, Database],
) -> None:
    first, second = two
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


async def test_a_closed_holder_connection_frees_the_lease(two: tuple[Database, Database]) -> None:
    first, second = two
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


async def test_the_lease_key_blocks_no_other_lock(two: tuple[Database, Database]) -> None:
    first, second = two
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
