"""Shards across processes: each shard is claimed by one process (bot/db/locks.py shard_key),
and every process runs with the same SHARD_COUNT (shard_count_key)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from bot.db import Database
from bot.db.locks import (
    SHARD_BASE,
    SHARD_COUNT_BASE,
    SHARD_COUNT_END,
    shard_count_key,
    shard_key,
)
from bot.errors import ConfigError


@asynccontextmanager
async def claimed_shards(
    db: Database, shards: Sequence[int], shard_count: int | None
) -> AsyncIterator[None]:
    """Hold the shards' session advisory locks, and the shared lock of SHARD_COUNT, for the
    block (freed when the process dies). A shard another process holds is refused naming
    SHARD_IDS; another process's different total, naming SHARD_COUNT (Discord routes a guild
    by the total: with two totals some guilds would reach two processes, others none)."""
    held = await db.try_session_locks(
        [shard_key(shard) for shard in shards], shared=[shard_count_key(shard_count)]
    )
    if isinstance(held, tuple):
        fix = "give each process its own SHARD_IDS"
        taken = ", ".join(str(key - SHARD_BASE) for key in held)
        raise ConfigError("SHARD_IDS", f"shard {taken} is already run by another process: {fix}")
    try:
        ours = shard_count_key(shard_count)
        counts = await db.advisory_holders(SHARD_COUNT_BASE, SHARD_COUNT_END)
        others = [key for key in counts if key != ours]
        if others:
            raise ConfigError("SHARD_COUNT", _mismatch(shard_count, others[0] - SHARD_COUNT_BASE))
        yield
    finally:
        await held.release()


def _mismatch(ours: int | None, theirs: int) -> str:
    def name(count: int | None) -> str:
        return str(count) if count else "unset (Discord's count)"

    return (
        f"is {name(ours)} here but {name(theirs)} in another process on this database: "
        "give every process the same SHARD_COUNT"
    )
