"""The PostgreSQL pool: every connection open before a burst needs it, none opened by a burst."""

from __future__ import annotations

import asyncio

import psycopg

from bot.db import Database, open_database
from bot.db.postgres import POOL_SIZE
from tests.pg import PostgresServer

BACKENDS = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"


async def backends(db: Database, expected: int) -> int:
    """The database's client connections once they reach `expected` (or after 5 s): pools fill
    in the background."""
    seen = 0
    for _ in range(100):
        row = await db.fetchone(BACKENDS)
        assert row is not None
        seen = int(row[0])
        if seen >= expected:
            break
        await asyncio.sleep(0.05)
    return seen


async def test_the_pool_opens_every_connection_ahead_of_a_burst(pg_server: PostgresServer) -> None:
    # A pool that grows on demand opens connections one at a time in the middle of a burst
    # (each a new backend with cold caches): the first seconds of 400 /imagine a second queued
    # behind them (benchmarks/cluster.py).
    async with open_database(pg_server.new_database()) as db:
        assert await backends(db, POOL_SIZE) == POOL_SIZE
        burst = [db.fetchone("SELECT pg_sleep(0.05), pg_backend_pid()") for _ in range(POOL_SIZE)]
        pids = {row[1] for row in await asyncio.gather(*burst) if row is not None}
        assert len(pids) == POOL_SIZE  # side by side, on the connections already open
        assert await backends(db, 0) == POOL_SIZE  # and none more


async def test_connections_the_server_ended_are_replaced_not_lent(
    pg_server: PostgresServer,
) -> None:
    # A PostgreSQL restart ends every idle pooled connection: each was lent once more and
    # failed, a call's result among them (a paid image lost). Now none of it shows.
    url = pg_server.new_database()
    async with open_database(url) as db:
        assert await backends(db, POOL_SIZE) == POOL_SIZE
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            for _ in range(100):  # the backends end a moment after they are told
                left = await (await admin.execute(BACKENDS)).fetchone()
                if left is not None and left[0] == 1:
                    break
                await asyncio.sleep(0.05)
        for _ in range(POOL_SIZE + 2):
            row = await db.fetchone("SELECT 1")
            assert row is not None and row[0] == 1
