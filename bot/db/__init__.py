"""The store's database: SQLite by default, PostgreSQL when a `postgresql://` URL is given."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg

from bot.db import postgres, sqlite
from bot.db.base import (
    DEFAULT_MIGRATIONS_DIR,
    Database,
    Migration,
    Params,
    Reader,
    Row,
    SessionLock,
    Transaction,
    Writer,
    Written,
    discover,
)
from bot.db.refusals import ConnectFailure, connect_failure
from bot.db.sqlite import (
    SqliteDatabase,
    SqliteTransaction,
    connect,
    migrate,
    probe_writable,
    schema_version,
    snapshot,
)

# What either driver raises; callers name this, never a driver (tests/test_architecture.py).
DriverError: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error)
# PostgreSQL gone for a while (a restart, a dropped connection, no free connection in the pool's
# wait, an administrator's pg_terminate_backend): an idempotent write may be tried again.
# https://www.psycopg.org/psycopg3/docs/api/errors.html (OperationalError)
Outage: tuple[type[Exception], ...] = (psycopg.OperationalError,)

__all__ = [
    "DEFAULT_MIGRATIONS_DIR",
    "ConnectFailure",
    "Database",
    "DriverError",
    "Migration",
    "Outage",
    "Params",
    "Reader",
    "Row",
    "SessionLock",
    "SqliteDatabase",
    "SqliteTransaction",
    "Transaction",
    "Writer",
    "Written",
    "connect",
    "connect_failure",
    "discover",
    "is_postgresql",
    "latest_version",
    "migrate",
    "open_database",
    "probe_writable",
    "schema_version",
    "snapshot",
]


def is_postgresql(target: Path | str) -> bool:
    """Whether `target` is a PostgreSQL URL (DATABASE_URL) rather than a SQLite file."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def latest_version(migrations_dir: Path = DEFAULT_MIGRATIONS_DIR) -> int:
    """The schema version this code migrates to (both dialects number alike)."""
    found = discover(migrations_dir)
    return found[-1].version if found else 0


@asynccontextmanager
async def open_database(
    target: Path | str,
    migrations_dir: Path = DEFAULT_MIGRATIONS_DIR,
    *,
    wait_s: float = 0.0,
    migrating: bool = True,
) -> AsyncIterator[Database]:
    """Connect, migrate, and close on exit: PostgreSQL for a `postgresql://` URL (retried for
    `wait_s` seconds while it does not answer; not migrated unless `migrating`: other
    processes may run an older version on it), else the SQLite file at `target` (one
    process's own file, always migrated)."""
    if is_postgresql(target):
        opened = postgres.open_database(
            str(target), migrations_dir, wait_s=wait_s, migrating=migrating
        )
        async with opened as pg:
            yield pg
    else:
        async with sqlite.open_database(target, migrations_dir) as lite:
            yield lite
