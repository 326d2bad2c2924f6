"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bot.db import Database, open_database
from tests.fakes.openai_server import FakeOpenAI
from tests.pg import PostgresMissingError, PostgresServer, running_server

# ---- fake_openai: the loopback fake of the OpenAI Images API (owner: OpenAI client) ----------


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    """A FakeOpenAI on 127.0.0.1 (key "sk-test", no IPM limit), served on the test's loop."""
    async with FakeOpenAI(api_key="sk-test") as fake:
        yield fake


# ---- end fake_openai -------------------------------------------------------------------------


# ---- db_target: every store test on SQLite and on PostgreSQL (owner: the store) -------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the session (tests/pg.py). Without PostgreSQL's
    binaries the PostgreSQL variants fail: they are part of the suite, not optional."""
    try:
        with running_server() as server:
            yield server
    except PostgresMissingError as exc:
        pytest.fail(str(exc))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """Where open_database opens the test's database: a SQLite file, or a fresh, migrated
    PostgreSQL database on the session's server."""
    if request.param == "sqlite":
        yield tmp_path / "bot.sqlite3"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    url = server.new_database()
    yield url
    server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """As db_target, but nothing migrated yet (for tests of upgrades)."""
    if request.param == "sqlite":
        yield tmp_path / "bot.sqlite3"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    url = server.new_database(migrated=False)
    yield url
    server.drop_database(url)


@pytest.fixture
async def two_processes(pg_server: PostgresServer) -> AsyncIterator[tuple[Database, Database]]:
    """Two processes' Database objects (each its own pool) on one fresh PostgreSQL database."""
    url = pg_server.new_database()
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(open_database(url))
        second = await stack.enter_async_context(open_database(url))
        yield first, second
    pg_server.drop_database(url)


# ---- end db_target ---------------------------------------------------------------------------
