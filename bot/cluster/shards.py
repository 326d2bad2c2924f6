"""Shards across processes: each shard is claimed by one process (bot/db/locks.py shard_key),
every process runs with the same SHARD_COUNT (shard_count_key), and a claim lost is noticed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from bot.clock import Clock
from bot.db import Database, DriverError, SessionLock
from bot.db.locks import (
    SHARD_BASE,
    SHARD_COUNT_BASE,
    SHARD_COUNT_END,
    shard_count_key,
    shard_key,
)
from bot.errors import ConfigError

log = logging.getLogger(__name__)

# How often the claim's connection is checked: a connection ended under it (an administrator's
# pg_terminate_backend, a reaper, a server restart) frees its shards for another process.
CLAIM_CHECK_S = 5.0


@asynccontextmanager
async def claimed_shards(
    db: Database,
    shards: Sequence[int],
    shard_count: int | None,
    *,
    clock: Clock,
    on_lost: Callable[[ConfigError], None],
) -> AsyncIterator[None]:
    """Hold the shards' session advisory locks, and the shared lock of SHARD_COUNT, for the
    block (freed when the process dies), or raise the ConfigError naming SHARD_COUNT (another
    process runs another total: Discord routes a guild by the total, so some guilds would reach
    two processes, others none) or SHARD_IDS (a shard another process runs).

    Every CLAIM_CHECK_S the claim's connection is checked; a lost claim is taken again, and
    when another process took a shard meanwhile, `on_lost` gets the ConfigError (the caller
    stops: two processes must not answer one shard's interactions)."""
    claim = _Claim(await _claim(db, shards, shard_count))
    watcher = asyncio.get_running_loop().create_task(
        _watch(db, claim, shards, shard_count, clock, on_lost), name="shard-claim"
    )
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await claim.lock.release()


class _Claim:
    """The lock that holds the shards now (replaced when taken again)."""

    def __init__(self, lock: SessionLock) -> None:
        self.lock = lock


async def _watch(
    db: Database,
    claim: _Claim,
    shards: Sequence[int],
    shard_count: int | None,
    clock: Clock,
    on_lost: Callable[[ConfigError], None],
) -> None:
    while True:
        await clock.sleep(CLAIM_CHECK_S)
        if await claim.lock.alive():
            continue
        log.warning("the connection holding shards %s was lost: claiming them again", shards)
        try:
            claim.lock = await _claim(db, shards, shard_count)
        except ConfigError as lost:
            log.error("shards %s are run by another process now: stopping", shards)
            on_lost(lost)
            return
        except DriverError:
            continue  # the server does not answer (yet): the next check tries again


async def _claim(db: Database, shards: Sequence[int], shard_count: int | None) -> SessionLock:
    held = await db.try_session_locks(
        [shard_key(shard) for shard in shards], shared=[shard_count_key(shard_count)]
    )
    # Another total is named first: changing SHARD_IDS would not help that process.
    ours = shard_count_key(shard_count)
    others = [k for k in await db.advisory_holders(SHARD_COUNT_BASE, SHARD_COUNT_END) if k != ours]
    if others:
        if not isinstance(held, tuple):
            await held.release()
        raise ConfigError("SHARD_COUNT", _mismatch(shard_count, others[0] - SHARD_COUNT_BASE))
    if isinstance(held, tuple):
        fix = "give each process its own SHARD_IDS"
        taken = ", ".join(str(key - SHARD_BASE) for key in held)
        raise ConfigError("SHARD_IDS", f"shard {taken} is already run by another process: {fix}")
    return held


def _mismatch(ours: int | None, theirs: int) -> str:
    def name(count: int | None) -> str:
        return str(count) if count else "unset (Discord's count)"

    return (
        f"is {name(ours)} here but {name(theirs)} in another process on this database: "
        "give every process the same SHARD_COUNT"
    )
