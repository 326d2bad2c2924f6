"""Shard claims across processes: each shard run by one process, every process with one total."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

import pytest

from bot.clock import ManualClock
from bot.cluster.shards import CLAIM_CHECK_S, claimed_shards
from bot.db import Database, open_database
from bot.db.locks import shard_key
from bot.db.postgres import POOL_SIZE
from bot.errors import ConfigError
from tests.pg import PostgresServer
from tests.unit.db.test_postgres_locks import HOLDER
from tests.unit.db.test_postgres_pool import BACKENDS, backends


def claim(
    db: Database, shards: Sequence[int], count: int | None, lost: list[ConfigError] | None = None
) -> AbstractAsyncContextManager[None]:
    """A claim on a clock nothing advances (its check never runs) unless a test moves it."""
    sink = lost if lost is not None else []
    return claimed_shards(db, shards, count, clock=ManualClock(), on_lost=sink.append)


async def test_a_thousand_shards_are_claimed_on_one_connection(
    two_processes: tuple[Database, Database],
) -> None:
    first, _ = two_processes
    before = await backends(first, 2 * POOL_SIZE)  # both pools full
    async with claim(first, range(1000), 1000):
        during = (await first.fetchone(BACKENDS) or [0])[0]
    assert during - before == 1  # not one per shard: a large bot would use up max_connections


async def test_a_shard_another_process_runs_is_refused_naming_it(
    two_processes: tuple[Database, Database],
) -> None:
    first, second = two_processes
    async with claim(first, [0, 1], 4):
        with pytest.raises(ConfigError) as caught:
            async with claim(second, [1, 2], 4):
                pass
        assert caught.value.variable == "SHARD_IDS"
        assert "shard 1 is already run" in caught.value.reason
        async with claim(second, [2, 3], 4):  # the refused claim took nothing
            pass
    async with claim(second, [0, 1, 2, 3], 4):  # and the first's are freed on exit
        pass


async def test_a_process_with_another_shard_count_is_refused_naming_it(
    two_processes: tuple[Database, Database],
) -> None:
    first, second = two_processes
    async with claim(first, [0, 1], 2):
        with pytest.raises(ConfigError) as caught:
            async with claim(second, [2], 3):
                pass
        assert caught.value.variable == "SHARD_COUNT"
        assert "is 3 here but 2 in another process" in caught.value.reason
        with pytest.raises(ConfigError):  # Discord's own count beside a set one: the same
            async with claim(second, [5], None):
                pass
        async with claim(second, [], 2):  # the same total: welcome
            pass
    async with claim(second, [2], 3):  # alone now: its total is the only one
        pass


async def test_a_process_with_another_total_names_shard_count_even_on_a_taken_shard(
    two_processes: tuple[Database, Database],
) -> None:
    first, second = two_processes
    async with claim(first, [0, 1], 2):
        with pytest.raises(ConfigError) as caught:
            async with claim(second, [1], 3):  # shard 1 is taken too, but the total is the fix
                pass
        assert caught.value.variable == "SHARD_COUNT"


async def test_other_databases_on_the_server_may_use_other_totals(
    pg_server: PostgresServer,
) -> None:
    staging, production = pg_server.new_database(), pg_server.new_database()
    async with (
        open_database(staging) as one,
        open_database(production) as other,
        claim(one, [0, 1], 2),
        claim(other, [0, 1, 2], 3),
    ):
        pass  # advisory locks, and so the totals, are per database
    pg_server.drop_database(staging)
    pg_server.drop_database(production)


async def terminate_claim(db: Database) -> None:
    """End the backend holding shard 0's lock (an administrator's pg_terminate_backend)."""
    row = await db.fetchone(HOLDER, (0, shard_key(0)))
    assert row is not None
    await db.fetchone("SELECT pg_terminate_backend(?)", (row[0],))


async def settle(clock: ManualClock, seconds: float) -> None:
    """Move the clock in steps, letting the server answer in real time in between."""
    for _ in range(int(seconds / 0.5)):
        clock.advance(0.5)
        for _ in range(5):
            await asyncio.sleep(0.01)


async def test_a_lost_claim_is_taken_again_when_nobody_took_its_shards(
    two_processes: tuple[Database, Database],
) -> None:
    first, second = two_processes
    clock, lost = ManualClock(), list[ConfigError]()
    async with claimed_shards(first, [0], 1, clock=clock, on_lost=lost.append):
        await terminate_claim(second)
        await settle(clock, CLAIM_CHECK_S + 1)
        assert lost == []
        with pytest.raises(ConfigError):  # held again: another process is refused
            async with claim(second, [0], 1):
                pass


async def test_a_claim_lost_to_another_process_stops_this_one(
    two_processes: tuple[Database, Database],
) -> None:
    """Its connection ended, another process started on its shard: two processes must not
    answer one shard (the second trial charged one /imagine twice so)."""
    first, second = two_processes
    clock, lost = ManualClock(), list[ConfigError]()
    async with claimed_shards(first, [0], 1, clock=clock, on_lost=lost.append):
        await terminate_claim(second)
        async with claim(second, [0], 1):
            await settle(clock, CLAIM_CHECK_S + 1)
            assert [error.variable for error in lost] == ["SHARD_IDS"]
