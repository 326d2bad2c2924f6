"""Shard claims across processes: each shard run by one process, every process with one total."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from bot.cluster.shards import claimed_shards
from bot.db import Database, open_database
from bot.errors import ConfigError
from tests.pg import PostgresServer

BACKENDS = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"


@pytest.fixture
async def two(pg_server: PostgresServer) -> AsyncIterator[tuple[Database, Database]]:
    """Two processes' Database objects on one PostgreSQL database."""
    url = pg_server.new_database()
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(open_database(url))
        second = await stack.enter_async_context(open_database(url))
        yield first, second
    pg_server.drop_database(url)


async def test_a_thousand_shards_are_claimed_on_one_connection(
    two: tuple[Database, Database],
) -> None:
    first, _ = two
    before = (await first.fetchone(BACKENDS) or [0])[0]
    async with claimed_shards(first, range(1000), 1000):
        during = (await first.fetchone(BACKENDS) or [0])[0]
    assert during - before == 1  # not one per shard: a large bot would use up max_connections


async def test_a_shard_another_process_runs_is_refused_naming_it(
    two: tuple[Database, Database],
) -> None:
    first, second = two
    async with claimed_shards(first, [0, 1], 4):
        with pytest.raises(ConfigError) as caught:
            async with claimed_shards(second, [1, 2], 4):
                pass
        assert caught.value.variable == "SHARD_IDS"
        assert "shard 1 is already run" in caught.value.reason
        async with claimed_shards(second, [2, 3], 4):  # the refused claim took nothing
            pass
    async with claimed_shards(second, [0, 1, 2, 3], 4):  # and the first's are freed on exit
        pass


async def test_a_process_with_another_shard_count_is_refused_naming_it(
    two: tuple[Database, Database],
) -> None:
    first, second = two
    async with claimed_shards(first, [0, 1], 2):
        with pytest.raises(ConfigError) as caught:
            async with claimed_shards(second, [2], 3):
                pass
        assert caught.value.variable == "SHARD_COUNT"
        assert "is 3 here but 2 in another process" in caught.value.reason
        with pytest.raises(ConfigError):  # Discord's own count beside a set one: the same
            async with claimed_shards(second, [5], None):
                pass
        async with claimed_shards(second, [], 2):  # the same total: welcome
            pass
    async with claimed_shards(second, [2], 3):  # alone now: its total is the only one
        pass
