"""Shard claims across processes: each shard run by one process, every process with one total."""

from __future__ import annotations

import pytest

from bot.cluster.shards import claimed_shards
from bot.db import Database
from bot.errors import ConfigError

BACKENDS = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"


async def test_a_thousand_shards_are_claimed_on_one_connection(
    two_processes: tuple[Database, Database],
) -> None:
    first, _ = two_processes
    before = (await first.fetchone(BACKENDS) or [0])[0]
    async with claimed_shards(first, range(1000), 1000):
        during = (await first.fetchone(BACKENDS) or [0])[0]
    assert during - before == 1  # not one per shard: a large bot would use up max_connections


async def test_a_shard_another_process_runs_is_refused_naming_it(
    two_processes: tuple[Database, Database],
) -> None:
    first, second = two_processes
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
    two_processes: tuple[Database, Database],
) -> None:
    first, second = two_processes
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
