"""Gateway IDENTIFYs across processes: one per rate-limit bucket every 5 s, whoever sends it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from bot.clock import Clock
from bot.db import DriverError
from bot.db.locks import identify_key

log = logging.getLogger(__name__)
# Discord's rule: one IDENTIFY per bucket (shard_id % max_concurrency) every 5 seconds, buckets
# counted across every process of the bot
# (https://discord.com/developers/docs/events/gateway#sharding-max-concurrency).
IDENTIFY_SPACING_S = 5.0
# The lock is kept this much past the spacing: the IDENTIFY leaves a moment after the lock is
# taken, so the next holder's must not go out a moment early.
MARGIN_S = 0.5
Locks = Callable[[int], AbstractAsyncContextManager[None]]


class IdentifyGate:
    """Takes a bucket's lock before each IDENTIFY and keeps it for the spacing in the background,
    so the IDENTIFY goes out at once and the next one of its bucket (here or in another process)
    waits its 5 s. `locks` is Database.session_lock (a PostgreSQL advisory lock)."""

    def __init__(self, locks: Locks, clock: Clock) -> None:
        self.max_concurrency = 1  # GET /gateway/bot's session_start_limit says (ImageBot)
        self._locks = locks
        self._clock = clock
        self._holding: set[asyncio.Task[None]] = set()

    def key(self, shard_id: int) -> int:
        """The advisory lock of the shard's bucket."""
        return identify_key(shard_id % max(self.max_concurrency, 1))

    async def wait_turn(self, shard_id: int) -> None:
        """Return when `shard_id` may IDENTIFY. A database that fails: the spacing is waited
        here instead (this process's IDENTIFYs stay apart; other processes' may not)."""
        taken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        holder = asyncio.create_task(self._hold(self.key(shard_id), taken))
        self._holding.add(holder)
        holder.add_done_callback(self._holding.discard)
        try:
            await taken
        except asyncio.CancelledError:
            holder.cancel()
            raise
        except DriverError as exc:
            log.warning("could not take the IDENTIFY lock (%s): waiting 5 s instead", exc)
            await self._clock.sleep(IDENTIFY_SPACING_S)

    async def _hold(self, key: int, taken: asyncio.Future[None]) -> None:
        try:
            async with self._locks(key):
                taken.set_result(None)
                await self._clock.sleep(IDENTIFY_SPACING_S + MARGIN_S)
        except Exception as exc:
            # Before the lock: the waiter hears of it. After: closing its connection let go.
            if not taken.done():
                taken.set_exception(exc)

    async def close(self) -> None:
        """Let go of every lock still held (the bot is stopping)."""
        for task in list(self._holding):
            task.cancel()
        await asyncio.gather(*self._holding, return_exceptions=True)
