"""PostgreSQL through psycopg 3: a connection pool, migrations tracked in schema_version, and
transactions behind the same Database/Transaction interface as SQLite's."""

from __future__ import annotations

import asyncio
import logging
import select
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from bot.db.base import (
    DEFAULT_MIGRATIONS_DIR,
    Params,
    Row,
    Written,
)
from bot.db.dialect import to_postgresql
from bot.db.pg_locks import HOLDERS, SHARED_LOCKS, TRY_LOCKS, PgSessionLock, guild_lock_sql
from bot.db.pg_migrations import migrate, schema_version
from bot.db.pg_rows import configure, row_factory
from bot.db.refusals import connect_failure

log = logging.getLogger(__name__)

# Connections per process: admission, the dispatcher and reads rarely need more at once.
POOL_SIZE = 8
# Start-up: each connection attempt's limit, and the pause between attempts.
CONNECT_TIMEOUT_S = 5
RETRY_EVERY_S = 1.0


def _ended(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether the server has ended this idle connection (a restart, pg_terminate_backend). The
    server sends an idle connection nothing until it is asked (the bot never LISTENs), so a
    socket with something to read holds its goodbye. A poll, not a query: no trip per use."""
    if conn.closed:
        return True
    poller = select.poll()
    poller.register(conn.pgconn.socket, select.POLLIN)
    return bool(poller.poll(0))


async def connect(url: str, *, wait_s: float = 0.0) -> psycopg.AsyncConnection[Any]:
    """One connection in autocommit mode (each statement its own transaction unless inside
    one), retried for `wait_s` seconds while the server does not answer (it may be starting
    beside the bot); then the last psycopg.OperationalError. A definite refusal (see
    connect_failure) is raised at once: waiting never fixes a wrong password."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(
                url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            )
        except psycopg.OperationalError as exc:
            if connect_failure(exc).final or time.monotonic() + RETRY_EVERY_S > deadline:
                raise
            # Debug only: the error line that ends the wait is the one line an operator reads.
            log.debug("DATABASE_URL does not answer yet: retrying for %g s", wait_s)
            await asyncio.sleep(RETRY_EVERY_S)
            continue
        await configure(conn)
        return conn


class PgTransaction:
    """The connection of one transaction (see bot.db.base.Transaction)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> Written:
        cursor = await self._conn.execute(to_postgresql(sql), params)
        return Written(cursor.rowcount)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._conn.cursor() as cursor:
            await cursor.executemany(to_postgresql(sql), list(rows))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await _fetchall(self._conn, sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def lock_guild(self, guild_id: int) -> None:
        await self._conn.execute(guild_lock_sql(guild_id))

    async def write(self, sql: str, params: Params = (), *, locks: Sequence[int] = ()) -> list[Row]:
        for guild_id in locks:
            await self.lock_guild(guild_id)
        return await self.fetchall(sql, params)


async def _fetchall(conn: psycopg.AsyncConnection[Any], sql: str, params: Params) -> list[Row]:
    async with conn.cursor(row_factory=row_factory) as cursor:
        await cursor.execute(to_postgresql(sql), params)
        return await _rows(cursor)


async def _rows(cursor: psycopg.AsyncCursor[Any]) -> list[Row]:
    """The rows of the cursor's current result; none for a statement that returns none."""
    result = cursor.pgresult
    if result is None or result.status != psycopg.pq.ExecStatus.TUPLES_OK:
        return []
    return list(await cursor.fetchall())


async def _one_trip(
    conn: psycopg.AsyncConnection[Any], sql: str, params: Params, locks: Sequence[int]
) -> list[Row]:
    """The locks and the statement as ONE simple query: PostgreSQL runs the statements of one
    query message as one transaction, each with its own snapshot under READ COMMITTED, so the
    statement reads what the lock's previous holder committed; an error rolls back all.
    https://www.postgresql.org/docs/15/protocol-flow.html#PROTOCOL-FLOW-MULTI-STATEMENT
    https://www.postgresql.org/docs/15/transaction-iso.html#XACT-READ-COMMITTED
    A simple query carries no parameters, so psycopg's client-side cursor merges them in,
    quoted by libpq (https://www.psycopg.org/psycopg3/docs/advanced/cursors.html#client-side-binding-cursors).
    """
    script = "; ".join([*(guild_lock_sql(g) for g in locks), to_postgresql(sql)])
    async with psycopg.AsyncClientCursor(conn, row_factory=row_factory) as cursor:
        await cursor.execute(script, params)
        while cursor.nextset():  # the locks' results come first; the statement's is last
            pass
        return await _rows(cursor)


class PgDatabase:
    """A pool of connections; each transaction holds one until it ends.

    READ COMMITTED throughout: every write that must not race another (a reservation) takes a
    guild's advisory lock first (PgTransaction.lock_guild), so nothing needs a retry loop.
    """

    dialect = "postgresql"

    def __init__(self, pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]], url: str) -> None:
        self._pool = pool
        self._url = url
        # A follower tries the lease every second: the connection of a refused try is kept for
        # the next one instead of a new connection each time.
        self._spare: psycopg.AsyncConnection[Any] | None = None

    @asynccontextmanager
    async def _lend(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection the server has not ended. After a restart of PostgreSQL every
        idle one has been: each was lent once more and failed, the result of a call in flight
        among them (a paid image lost). Closed, the pool opens another in its place at once;
        psycopg_pool's own `check` waits a growing backoff after each failed one."""
        for _ in range(POOL_SIZE):
            async with self._pool.connection() as conn:
                if not _ended(conn):
                    yield conn
                    return
                await conn.close()
        async with self._pool.connection() as conn:  # every one ended: a new one, or its error
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgTransaction]:
        async with self._lend() as conn, conn.transaction():
            yield PgTransaction(conn)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._lend() as conn:
            return await _fetchall(conn, sql, params)

    async def write(self, sql: str, params: Params = (), *, locks: Sequence[int] = ()) -> list[Row]:
        async with self._lend() as conn:
            if not locks:  # one statement commits on its own (autocommit): prepared, one trip
                return await _fetchall(conn, sql, params)
            return await _one_trip(conn, sql, params, locks)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def schema_version(self) -> int:
        async with self._lend() as conn:
            return await schema_version(conn)

    async def try_session_lock(self, key: int) -> PgSessionLock | None:
        """pg_try_advisory_lock on a connection of its own, outside the pool: the lock lives
        exactly as long as that connection (a process killed, its socket closed, frees it)."""
        conn = self._spare
        self._spare = None
        if conn is None or conn.closed:
            conn = await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            )
        try:
            cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
            row = await cursor.fetchone()
        except BaseException:
            await conn.close()
            raise
        if row is not None and row[0] is True:
            return PgSessionLock(conn, key)
        self._spare = conn
        return None

    async def try_session_locks(
        self, keys: Sequence[int], *, shared: Sequence[int] = ()
    ) -> PgSessionLock | tuple[int, ...]:
        # One statement for any number of keys (a large bot's thousands of shards), on one
        # connection: a connection per lock would use up the server's max_connections.
        conn = await connect(self._url)
        try:
            cursor = await conn.execute(TRY_LOCKS, (list(keys),))
            refused = tuple(int(row[0]) for row in await cursor.fetchall())
            if refused:
                await conn.close()  # frees the keys it did take
                return refused
            if shared:  # nobody takes these exclusively: never waits
                await conn.execute(SHARED_LOCKS, (list(shared),))
        except BaseException:
            await conn.close()
            raise
        return PgSessionLock(conn, None)

    async def advisory_holders(self, low: int, high: int) -> list[int]:
        rows = await self.fetchall(HOLDERS, (low, high))
        return [int(row[0]) for row in rows]

    @asynccontextmanager
    async def session_lock(self, key: int) -> AsyncIterator[None]:
        # A connection of its own, outside the pool: a session's locks stack (a second take of
        # one key by one session never waits), and closing it releases the lock whatever
        # happens, as the death of the process does.
        conn = await connect(self._url)
        try:
            await conn.execute("SELECT pg_advisory_lock(%s::bigint)", (key,))
            yield
        finally:
            await conn.close()

    async def close(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            await spare.close()
        await self._pool.close()


@asynccontextmanager
async def open_database(
    url: str,
    migrations_dir: Path = DEFAULT_MIGRATIONS_DIR,
    *,
    wait_s: float = 0.0,
    migrating: bool = True,
) -> AsyncIterator[PgDatabase]:
    """Connect (retried for `wait_s` seconds), migrate unless not `migrating` (a check that
    only reads), and close on exit."""
    conn = await connect(url, wait_s=wait_s)
    try:
        if migrating:
            await migrate(conn, migrations_dir)
    finally:
        await conn.close()
    # Every connection kept open (filled in the background, so start-up does not wait): a pool
    # that grows on demand opens them one at a time in the middle of a burst, each a new backend
    # with cold caches, and a burst after a quiet spell met that again (benchmarks/cluster.py).
    # A check (not migrating) reads a little and leaves: it keeps one.
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
        url,
        min_size=POOL_SIZE if migrating else 1,
        max_size=POOL_SIZE,
        open=False,
        kwargs={"autocommit": True},
        configure=configure,
    )
    await pool.open(wait=False)
    database = PgDatabase(pool, url)
    try:
        yield database
    finally:
        await database.close()
