"""Shards across processes: each shard is claimed by one process (bot/db/locks.py shard_key)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from bot.db import Database, SessionLock
from bot.db.locks import shard_key
from bot.errors import ConfigError


@asynccontextmanager
async def claimed_shards(db: Database, shards: Sequence[int]) -> AsyncIterator[None]:
    """Hold a session advisory lock per shard for the block (freed when the process dies);
    a shard another process holds is refused as a start-up mistake naming SHARD_IDS."""
    held: list[SessionLock] = []
    try:
        for shard in shards:
            lock = await db.try_session_lock(shard_key(shard))
            if lock is None:
                fix = "give each process its own SHARD_IDS"
                raise ConfigError(
                    "SHARD_IDS", f"shard {shard} is already run by another process: {fix}"
                )
            held.append(lock)
        yield
    finally:
        for lock in held:
            await lock.release()
