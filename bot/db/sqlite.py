"""SQLite: the connection, migrations tracked in PRAGMA user_version, and transactions."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import aiosqlite

from bot.db.base import (
    DEFAULT_MIGRATIONS_DIR,
    HeldLock,
    Migration,
    Params,
    Row,
    SessionLock,
    Written,
    discover,
    strip_comments,
)
from bot.errors import MigrationError

log = logging.getLogger(__name__)


async def connect(path: Path | str) -> aiosqlite.Connection:
    """Open the database in WAL mode with foreign keys on; the caller closes it."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so no implicit transaction can stay
    # open across an await on the network.
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    try:
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA busy_timeout = 5000")
        await conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        # aiosqlite's worker thread is not a daemon: left open, it keeps the process alive.
        await conn.close()
        raise
    return conn


async def schema_version(conn: aiosqlite.Connection) -> int:
    """The version recorded in the database (0 for a new one)."""
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def migrate(conn: aiosqlite.Connection, migrations_dir: Path = DEFAULT_MIGRATIONS_DIR) -> int:
    """Apply every migration newer than the database, each in its own transaction.

    Returns the resulting version. A failing file is rolled back whole (its version bump too)
    and raised as MigrationError naming the file; earlier files stay applied.
    """
    current = await schema_version(conn)
    for migration in discover(migrations_dir):
        if migration.version <= current:
            continue
        await _apply(conn, migration)
        current = migration.version
        log.info("applied migration %s", migration.name)
    return current


async def _apply(conn: aiosqlite.Connection, migration: Migration) -> None:
    sql = migration.path.read_text(encoding="utf-8")
    # executescript() would COMMIT first and run statements outside our transaction, so run the
    # statements one by one inside BEGIN ... COMMIT; user_version is transactional in SQLite.
    statements = _split_statements(sql, migration.name)
    await conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in statements:
            await conn.execute(statement)
        await conn.execute(f"PRAGMA user_version = {migration.version:d}")
        await conn.execute("COMMIT")
    except sqlite3.Error as exc:
        await conn.execute("ROLLBACK")
        raise MigrationError(migration.name, str(exc)) from exc


def _split_statements(sql: str, name: str) -> list[str]:
    """Split a script into complete statements (sqlite3.complete_statement handles triggers)."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if strip_comments(buffer):
                statements.append(buffer.strip())
            buffer = ""
    if strip_comments(buffer):
        raise MigrationError(name, "the last statement is not terminated with ';'")
    return statements


class SqliteTransaction:
    """The connection of one transaction: every write in bot/store takes it, so a write can only
    run inside `Database.transaction()` (or be one statement, `Database.write`), never on a
    shared connection.
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> Written:
        # The cursor's counts are read without another trip to the database thread.
        cursor = await self._conn.execute(sql, params)
        return Written(cursor.rowcount)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return cast(list[Row], list(await self._conn.execute_fetchall(sql, params)))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def lock_guild(self, guild_id: int) -> None:
        """Nothing to do: SQLite has one writer, and BEGIN IMMEDIATE holds it already."""

    async def write(self, sql: str, params: Params = (), *, locks: Sequence[int] = ()) -> list[Row]:
        return await self.fetchall(sql, params)  # the transaction holds the one writer


class SqliteDatabase:
    """The one connection, with a lock so concurrent coroutines never share a transaction.

    aiosqlite runs statements in order on one thread, so without the lock a coroutine's write
    could land inside another coroutine's open transaction. The store's calling convention:
    reads take the Database (`fetchall`/`fetchone`, one statement each), writes take the
    Transaction that `transaction()` hands out. Nothing outside bot/db.py sees the connection
    (tests/test_architecture.py), so a second backend can hand out pooled connections instead.
    """

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._session_locks: dict[int, asyncio.Lock] = {}

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTransaction]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (including cancellation)."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteTransaction(self._conn)
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def write(self, sql: str, params: Params = (), *, locks: Sequence[int] = ()) -> list[Row]:
        """One statement, committing on its own, with no other coroutine's transaction running
        (SQLite runs a statement atomically): without the two trips to the database thread of
        BEGIN and COMMIT. `locks` need nothing more: this process is SQLite's one writer."""
        async with self._lock:
            return cast(list[Row], list(await self._conn.execute_fetchall(sql, params)))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        # One trip to the database thread (a cursor's execute, fetch and close take three).
        return cast(list[Row], list(await self._conn.execute_fetchall(sql, params)))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a query that returns at most a few."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def schema_version(self) -> int:
        return await schema_version(self._conn)

    async def try_session_lock(self, key: int) -> SessionLock | None:
        """Held at once: one process runs on a SQLite file, so it holds every lock."""
        return HeldLock()

    async def try_session_locks(
        self, keys: Sequence[int], *, shared: Sequence[int] = ()
    ) -> SessionLock | tuple[int, ...]:
        return HeldLock()

    async def advisory_holders(self, low: int, high: int) -> list[int]:
        return []

    @asynccontextmanager
    async def session_lock(self, key: int) -> AsyncIterator[None]:
        """One process uses a SQLite file: the lock is this process's own."""
        async with self._session_locks.setdefault(key, asyncio.Lock()):
            yield

    async def close(self) -> None:
        await self._conn.close()


@asynccontextmanager
async def open_database(
    path: Path | str, migrations_dir: Path = DEFAULT_MIGRATIONS_DIR
) -> AsyncIterator[SqliteDatabase]:
    """Connect, migrate, and close on exit."""
    conn = await connect(path)
    try:
        await migrate(conn, migrations_dir)
        yield SqliteDatabase(conn)
    finally:
        await conn.close()


def probe_writable(path: Path) -> None:
    """Open the database file and take its write lock once, synchronously (before aiosqlite's
    thread, whose failure would end in a traceback). Raises DriverError or OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def snapshot(source: Path, target: Path, *, busy_timeout_s: float) -> None:
    """Copy the live database at `source` to a new file `target` with SQLite's online backup
    (https://www.sqlite.org/backup.html): one consistent snapshot, in WAL mode while the bot
    keeps writing; the copy is one self-contained file and passes PRAGMA integrity_check.
    Raises DriverError."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=busy_timeout_s)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # all pages in one step: one consistent snapshot
            dst.execute("PRAGMA journal_mode = DELETE")
            [result] = dst.execute("PRAGMA integrity_check").fetchone()
            if result != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its integrity check: {result}")
        finally:
            dst.close()
    finally:
        src.close()
