"""Migrations: ordered, idempotent, and atomic per file."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import aiosqlite
import pytest

from bot.db import (
    DEFAULT_MIGRATIONS_DIR,
    Database,
    connect,
    discover,
    migrate,
    open_database,
)
from bot.db.locks import IDENTIFY_BASE
from bot.db.pg_migrations import postgresql_migrations
from bot.errors import MigrationError
from tests.pg import PostgresServer


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(DEFAULT_MIGRATIONS_DIR, target)
    return target


async def _scalar(conn: aiosqlite.Connection, sql: str) -> object:
    async with conn.execute(sql) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return row[0]


async def _first(db: Database, sql: str) -> object:
    row = await db.fetchone(sql)
    assert row is not None
    return row[0]


def _latest(migrations: Path) -> int:
    return discover(migrations)[-1].version


async def test_migrating_twice_is_a_no_op(tmp_path: Path, migrations: Path) -> None:
    conn = await connect(tmp_path / "bot.sqlite3")
    try:
        first = await migrate(conn, migrations)
        async with conn.execute("SELECT name FROM sqlite_master ORDER BY name") as cur:
            tables = [row[0] for row in await cur.fetchall()]
        second = await migrate(conn, migrations)
        async with conn.execute("SELECT name FROM sqlite_master ORDER BY name") as cur:
            assert [row[0] for row in await cur.fetchall()] == tables
    finally:
        await conn.close()
    assert first == second == _latest(migrations)
    assert {"jobs", "api_calls", "guild_settings", "role_quotas"} <= set(tables)


async def test_a_broken_migration_leaves_the_previous_version(
    tmp_path: Path, migrations: Path
) -> None:
    good = _latest(migrations)
    broken = migrations / f"{good + 1:04d}_broken.sql"
    broken.write_text(
        "CREATE TABLE half_done (id INTEGER PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);\n"
    )
    conn = await connect(tmp_path / "bot.sqlite3")
    try:
        with pytest.raises(MigrationError) as caught:
            await migrate(conn, migrations)
        assert caught.value.filename == broken.name
        assert await _scalar(conn, "PRAGMA user_version") == good
        half_done = "SELECT count(*) FROM sqlite_master WHERE name = 'half_done'"
        assert await _scalar(conn, half_done) == 0, "the failed file's first statement stayed"
    finally:
        await conn.close()


def test_gaps_in_migration_numbers_are_refused(migrations: Path) -> None:
    (migrations / f"{_latest(migrations) + 2:04d}_skips_one.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match="no gaps"):
        discover(migrations)


def test_badly_named_migrations_are_refused(migrations: Path) -> None:
    (migrations / "add_stuff.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match=r"0001_reason\.sql"):
        discover(migrations)


async def test_database_opens_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    async with open_database(tmp_path / "sub" / "bot.sqlite3") as db:
        assert await _first(db, "PRAGMA journal_mode") == "wal"
        assert await _first(db, "PRAGMA foreign_keys") == 1
        assert await db.schema_version() == _latest(DEFAULT_MIGRATIONS_DIR)


async def test_a_failed_transaction_writes_nothing(db_target: Path | str) -> None:
    async with open_database(db_target) as db:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO meta (key, value) VALUES ('a', 'b')")
                raise RuntimeError("boom")
        assert await db.fetchone("SELECT * FROM meta") is None


async def test_a_write_reports_the_rows_it_changed(db_target: Path | str) -> None:
    async with open_database(db_target) as db:
        async with db.transaction() as conn:
            first = await conn.execute("INSERT INTO meta (key, value) VALUES ('a', '1')")
            await conn.execute("INSERT INTO meta (key, value) VALUES ('b', '2')")
            changed = await conn.execute("UPDATE meta SET value = 'x'")
            none = await conn.execute("DELETE FROM meta WHERE key = 'missing'")
        assert (first.rowcount, changed.rowcount, none.rowcount) == (1, 2, 0)
        assert [tuple(r) for r in await db.fetchall("SELECT * FROM meta ORDER BY key")] == [
            ("a", "x"),
            ("b", "x"),
        ]


async def test_a_read_inside_the_transaction_sees_its_writes_and_the_rollback_undoes_them(
    db_target: Path | str,
) -> None:
    async with open_database(db_target) as db:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)", [("a", "1"), ("b", "2")]
                )
                row = await conn.fetchone("SELECT COUNT(*) FROM meta")
                assert row is not None and row[0] == 2
                raise RuntimeError("boom")
        assert await db.fetchall("SELECT * FROM meta") == []


async def test_a_write_never_lands_in_another_coroutines_transaction(tmp_path: Path) -> None:
    # SQLite's write(): one connection for every coroutine, so without the lock the statement
    # would run inside the open transaction and be rolled back with it.
    async with open_database(tmp_path / "bot.sqlite3") as db:
        inside = asyncio.Event()

        async def failing_transaction() -> None:
            with pytest.raises(RuntimeError):
                async with db.transaction() as conn:
                    await conn.execute("INSERT INTO meta (key, value) VALUES ('t', '1')")
                    inside.set()
                    for _ in range(5):  # the write is sent meanwhile, if nothing holds it
                        await asyncio.sleep(0)
                    raise RuntimeError("rolled back")

        async def write_alone() -> list[str]:
            await inside.wait()
            rows = await db.write("INSERT INTO meta (key, value) VALUES ('w', '1') RETURNING key")
            return [row[0] for row in rows]

        _, written = await asyncio.gather(failing_transaction(), write_alone())
        assert written == ["w"]
        keys = [r["key"] for r in await db.fetchall("SELECT key FROM meta ORDER BY key")]
        assert keys == ["w"]  # committed on its own, after the transaction's rollback


# ---- PostgreSQL: the same migrations, numbered the same, tracked in schema_version ----------


def test_every_migration_has_its_postgresql_file_numbered_the_same() -> None:
    ours = [m.name for m in postgresql_migrations(DEFAULT_MIGRATIONS_DIR)]
    assert ours == [m.name for m in discover(DEFAULT_MIGRATIONS_DIR)]


def test_a_migration_without_its_postgresql_file_is_refused(migrations: Path) -> None:
    (migrations / f"{_latest(migrations) + 1:04d}_sqlite_only.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match="no PostgreSQL file for"):
        postgresql_migrations(migrations)


async def test_postgresql_migrating_twice_is_a_no_op(pg_server: PostgresServer) -> None:
    url = pg_server.new_database(migrated=False)
    async with open_database(url) as db:
        first = await db.schema_version()
        tables = await db.fetchall("SELECT tablename FROM pg_tables ORDER BY tablename")
    async with open_database(url) as db:
        assert await db.schema_version() == first == _latest(DEFAULT_MIGRATIONS_DIR)
        assert await db.fetchall("SELECT tablename FROM pg_tables ORDER BY tablename") == tables
        versions = await db.fetchall("SELECT version FROM schema_version ORDER BY version")
    assert [row[0] for row in versions] == list(range(1, first + 1))


async def test_a_broken_postgresql_migration_leaves_the_previous_version(
    pg_server: PostgresServer, migrations: Path
) -> None:
    good = _latest(migrations)
    name = f"{good + 1:04d}_broken.sql"
    (migrations / name).write_text("SELECT 1;\n")
    (migrations / "postgresql" / name).write_text(
        "CREATE TABLE half_done (id BIGINT PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);\n"
    )
    url = pg_server.new_database(migrated=False)
    with pytest.raises(MigrationError) as caught:
        async with open_database(url, migrations):
            pass
    assert caught.value.filename == name
    async with open_database(url) as db:  # the good migrations only: nothing left half done
        assert await db.schema_version() == good
        assert await db.fetchall("SELECT 1 FROM pg_tables WHERE tablename = 'half_done'") == []


async def test_postgresql_rows_read_by_name_and_position_and_sums_are_whole(
    db_target: Path | str,
) -> None:
    async with open_database(db_target) as db:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta (key, value) VALUES (:key, :value)",
                               {"key": "100%", "value": "it's"})  # fmt: skip
        row = await db.fetchone(
            "SELECT key, value, (SELECT SUM(9007199254740993) FROM meta) AS total FROM meta"
            " WHERE key LIKE '%\\%%' ESCAPE '\\' AND value = ?",
            ("it's",),
        )
    assert row is not None
    assert (row["key"], row[1], row["total"]) == ("100%", "it's", 9007199254740993)
    assert list(row.keys()) == ["key", "value", "total"] and next(iter(row)) == "100%"


async def _until_waiting(db: Database, waiter: asyncio.Task[None]) -> None:
    """Until `waiter` waits for a lock: PostgreSQL lists it as not granted; on SQLite it is a
    coroutine that stays blocked however often the loop runs."""
    for _ in range(500):
        await asyncio.sleep(0 if db.dialect == "sqlite" else 0.02)
        if db.dialect == "postgresql":
            sql = "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            if await _first(db, sql) == 1:
                return
    assert db.dialect == "sqlite", "the second taker never waited for the lock"
    assert not waiter.done()


async def test_a_session_lock_waits_for_its_holder_and_other_keys_do_not(
    db_target: Path | str,
) -> None:
    taken: list[str] = []

    async def take(db: Database, key: int, name: str) -> None:
        async with db.session_lock(key):
            taken.append(name)

    async with open_database(db_target) as db:
        async with db.session_lock(IDENTIFY_BASE):
            await asyncio.wait_for(take(db, IDENTIFY_BASE + 1, "another key"), 10)
            waiter = asyncio.create_task(take(db, IDENTIFY_BASE, "the same key"))
            await _until_waiting(db, waiter)
            assert taken == ["another key"]
        await asyncio.wait_for(waiter, 10)
    assert taken == ["another key", "the same key"]
