"""Where jobs are shown, for every process: interaction origins kept while their token lives."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.clock import Clock
from bot.db import Database
from bot.records import InteractionOrigin
from bot.store import origins as store

log = logging.getLogger(__name__)

# "Interaction tokens are valid for 15 minutes":
# https://discord.com/developers/docs/interactions/receiving-and-responding#responding-to-an-interaction
TOKEN_LIFE = timedelta(minutes=15)
PURGE_INTERVAL = 60.0  # seconds between purges of expired tokens, by the processes that store


class OriginBook:
    """Keeps each job's interaction origin in the database while its token lives, so that the
    process that runs a job (not always the one that admitted it) edits the member's reply.

    `shared` is cluster mode (DATABASE_URL set); with one process (SQLite) every origin is in
    that process's memory, and nothing is stored: every method does nothing.
    """

    def __init__(self, *, db: Database, clock: Clock, shared: bool) -> None:
        self._db = db
        self._clock = clock
        self.shared = shared
        self._next_purge = float("-inf")

    async def remember(self, origin: InteractionOrigin) -> None:
        """Store a job's origin (at acknowledgement); now and then purge expired ones."""
        if not self.shared:
            return
        async with self._db.transaction() as conn:
            await store.put(conn, origin)
        if self._clock.monotonic() >= self._next_purge:
            self._next_purge = self._clock.monotonic() + PURGE_INTERVAL
            await self.purge()

    async def find(self, job_id: int) -> InteractionOrigin | None:
        """The job's origin while its token lives; None past it, or when none is stored."""
        if not self.shared:
            return None
        origin = await store.get(self._db, job_id)
        if origin is None or self._clock.now() - origin.created_at >= TOKEN_LIFE:
            return None
        return origin

    async def forget(self, job_id: int) -> None:
        """The job has ended: its token is no longer needed."""
        if not self.shared:
            return
        async with self._db.transaction() as conn:
            await store.delete(conn, job_id)

    async def purge(self) -> int:
        """Delete every origin whose token has expired; returns how many."""
        if not self.shared:
            return 0
        async with self._db.transaction() as conn:
            removed = await store.delete_created_before(conn, self._clock.now() - TOKEN_LIFE)
        if removed:
            log.info("deleted %d expired interaction tokens", removed)
        return removed
