"""What the store sees of either backend: Reader, Transaction, Database, Row, and the migrations."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.errors import MigrationError

# A statement's parameters: positional (?) or named (:name), in SQLite's style on both backends.
Params = Sequence[object] | Mapping[str, object]

MIGRATION_NAME = re.compile(r"^(?P<version>\d{4})_(?P<reason>[a-z0-9_]+)\.sql$")
DEFAULT_MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"
# PostgreSQL's files sit beside SQLite's, numbered the same (bot/db/postgres.py).
POSTGRESQL_SUBDIR = "postgresql"


class Row(Protocol):
    """A result row, read by column name or position (sqlite3.Row, and bot/db/postgres.py's)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...

    def keys(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Written:
    """What a write statement did: the rows it changed. An insert that needs its row's id says
    `RETURNING id` and reads it with `fetchone` (SQLite since 3.35 and PostgreSQL alike)."""

    rowcount: int


class Reader(Protocol):
    """Where a read runs: the Database, or a Transaction when the read belongs inside it."""

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...


class Writer(Protocol):
    """Where one write statement runs with its guild locks: a Database (a transaction of its
    own) or a Transaction (part of it)."""

    async def write(self, sql: str, params: Params = (), *, locks: Sequence[int] = ()) -> list[Row]:
        """Run one statement after the advisory locks of `locks` (guild ids, taken in that
        order; see Transaction.lock_guild) and return its rows (RETURNING), or [].

        On a Database the locks and the statement are one transaction of their own, sent to
        PostgreSQL in one trip; on SQLite they run with no other coroutine's write between.
        """
        ...


class Transaction(Reader, Writer, Protocol):
    """The connection of one transaction: every write in bot/store takes it, so a write can only
    run inside `Database.transaction()` (or be one statement, `Database.write`), never on a
    shared connection.
    """

    async def execute(self, sql: str, params: Params = ()) -> Written: ...

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    async def lock_guild(self, guild_id: int) -> None:
        """Serialise this transaction with every other one that locks the same guild, until it
        ends (a no-op on SQLite, whose one writer is serialised already)."""
        ...


class SessionLock(Protocol):
    """An advisory lock held for as long as its own connection lives (bot/db/locks.py keys)."""

    async def alive(self) -> bool:
        """Whether it is still held: its connection answers (a dropped one freed the lock)."""
        ...

    async def release(self) -> None:
        """Let it go and close its connection (never raises)."""
        ...


class HeldLock:
    """A lock nobody else can want: SQLite's one process holds every lock at once."""

    async def alive(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class Database(Writer, Protocol):
    """Reads take the Database (one statement each); writes take the Transaction that
    `transaction()` hands out, or, for a write that is one statement, `write`. Nothing outside
    bot/db/ sees a connection (tests/test_architecture.py)."""

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """BEGIN ... COMMIT, rolled back on any exception (including cancellation)."""
        ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def schema_version(self) -> int: ...

    async def try_session_lock(self, key: int) -> SessionLock | None:
        """Take the advisory lock `key` for this process's session if it is free, else None
        (at once, never waiting). Raises a DriverError when the server cannot be reached."""
        ...

    async def try_session_locks(
        self, keys: Sequence[int], *, shared: Sequence[int] = ()
    ) -> SessionLock | tuple[int, ...]:
        """Take every key of `keys` (and `shared` ones, in shared mode) for this process on ONE
        connection of its own, at once: the lock holding them all, or the keys of `keys` that
        another session holds (then none is taken)."""
        ...

    async def advisory_holders(self, low: int, high: int) -> list[int]:
        """The bigint advisory keys from `low` to `high` (excluded) that some session holds
        (PostgreSQL's pg_locks; none on SQLite, whose one process holds every lock)."""
        ...

    def session_lock(self, key: int) -> AbstractAsyncContextManager[None]:
        """Hold the advisory lock `key` (a bigint of bot/db/locks.py's table) for the block,
        waiting while another process holds it; on SQLite, a lock of this one process."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: its version number and SQL."""

    version: int
    path: Path

    @property
    def name(self) -> str:
        return self.path.name


def discover(migrations_dir: Path) -> list[Migration]:
    """The migration files in order; gaps, duplicates and odd names are errors."""
    found: list[Migration] = []
    for path in sorted(migrations_dir.glob("*.sql")):
        match = MIGRATION_NAME.match(path.name)
        if match is None:
            raise MigrationError(path.name, "name must look like 0001_reason.sql")
        found.append(Migration(int(match["version"]), path))
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            reason = f"expected version {expected:04d}: no gaps allowed"
            raise MigrationError(migration.name, reason)
    return found


def strip_comments(sql: str) -> str:
    return "\n".join(
        line for line in sql.splitlines() if line.strip() and not line.strip().startswith("--")
    )
