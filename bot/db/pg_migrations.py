"""PostgreSQL's migrations: its own files beside SQLite's, numbered the same, applied in order
under an advisory lock and recorded in schema_version."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import psycopg

from bot.db.base import DEFAULT_MIGRATIONS_DIR, POSTGRESQL_SUBDIR, Migration, discover
from bot.db.locks import MIGRATIONS
from bot.errors import MigrationError

log = logging.getLogger(__name__)


async def schema_version(conn: psycopg.AsyncConnection[Any]) -> int:
    """The version recorded in the database (0 for a new one); reads only, creates nothing
    (`python -m bot check` must not change a database other processes run on)."""
    cursor = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    found = await cursor.fetchone()
    if not found or not found[0]:
        return 0
    cursor = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


_SCHEMA_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""
# Two processes starting at once must not both apply a migration: the first holds this lock.
_MIGRATION_LOCK = (MIGRATIONS, 0)


def postgresql_migrations(migrations_dir: Path) -> list[Migration]:
    """PostgreSQL's migration files, which must match SQLite's number for number."""
    ours = discover(migrations_dir / POSTGRESQL_SUBDIR)
    theirs = discover(migrations_dir)
    if [m.version for m in ours] != [m.version for m in theirs]:
        missing = sorted({m.name for m in theirs} - {m.name for m in ours})
        raise MigrationError(POSTGRESQL_SUBDIR, f"no PostgreSQL file for {', '.join(missing)}")
    return ours


async def migrate(
    conn: psycopg.AsyncConnection[Any], migrations_dir: Path = DEFAULT_MIGRATIONS_DIR
) -> int:
    """Apply every migration newer than the database, each in its own transaction (PostgreSQL
    DDL is transactional), under an advisory lock so that concurrent starts take turns."""
    migrations = postgresql_migrations(migrations_dir)
    await conn.execute("SELECT pg_advisory_lock(%s, %s)", _MIGRATION_LOCK)
    try:
        await conn.execute(_SCHEMA_VERSION_TABLE)
        current = await schema_version(conn)
        for migration in migrations:
            if migration.version > current:
                await _apply(conn, migration)
                current = migration.version
                log.info("applied migration %s", migration.name)
        return current
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s, %s)", _MIGRATION_LOCK)


async def _apply(conn: psycopg.AsyncConnection[Any], migration: Migration) -> None:
    # The whole file is one simple query (no parameters): plpgsql bodies keep their semicolons.
    sql = migration.path.read_text(encoding="utf-8").encode()
    try:
        async with conn.transaction():
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
    except psycopg.Error as exc:
        raise MigrationError(migration.name, str(exc)) from exc
