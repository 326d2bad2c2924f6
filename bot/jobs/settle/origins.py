"""Where jobs are shown, for every process: interaction origins kept while their token lives."""

from __future__ import annotations

import asyncio
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
        # Group commit: origins acknowledged while a write is in flight wait for the next one,
        # which stores them all in one statement (`_batch` is that write's outcome).
        self._pending: list[InteractionOrigin] = []
        self._batch: asyncio.Future[None] | None = None
        self._in_flight: asyncio.Future[None] | None = None  # the batch being written
        self._writer: asyncio.Task[None] | None = None

    async def remember(self, origin: InteractionOrigin) -> None:
        """Store a job's origin (at acknowledgement), returning once it is stored; now and then
        purge expired ones. Under load many go in one trip; when idle, none waits for another.
        Raises the driver's error when the write fails."""
        if not self.shared:
            return
        loop = asyncio.get_running_loop()
        self._pending.append(origin)
        if self._batch is None:
            self._batch = loop.create_future()
        batch = self._batch
        if self._writer is None or self._writer.done():  # done: its callback has yet to run
            self._writer = loop.create_task(self._write_pending(), name="origins-writer")
            self._writer.add_done_callback(self._writer_done)
        await asyncio.shield(batch)  # a caller cancelled leaves the others' outcome alone
        if self._clock.monotonic() >= self._next_purge:
            self._next_purge = self._clock.monotonic() + PURGE_INTERVAL
            await self.purge()

    async def _write_pending(self) -> None:
        while self._pending:
            # The origins and the future their callers wait on, taken together.
            origins, self._pending = self._pending, []
            batch = self._in_flight = self._batch
            self._batch = None
            assert batch is not None
            try:
                await store.put_all(self._db, origins)
            except Exception as exc:
                batch.set_exception(exc)
                batch.exception()  # retrieved: each caller that still waits gets it raised
            else:
                batch.set_result(None)
            self._in_flight = None

    def _writer_done(self, task: asyncio.Task[None]) -> None:
        """A writer cancelled (the loop closing), even before it began: its callers are told
        with an error, not left waiting; their origins are not written."""
        if self._writer is not task:
            return  # a newer writer has what is pending
        self._writer = None
        if not task.cancelled():
            return
        for waiting in (self._in_flight, self._batch):
            if waiting is not None and not waiting.done():
                waiting.set_exception(RuntimeError("stopped before the origins were stored"))
                waiting.exception()
        self._in_flight, self._batch, self._pending = None, None, []

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
        await store.delete(self._db, job_id)

    async def purge(self) -> int:
        """Delete every origin whose token has expired; returns how many."""
        if not self.shared:
            return 0
        async with self._db.transaction() as conn:
            removed = await store.delete_created_before(conn, self._clock.now() - TOKEN_LIFE)
        if removed:
            log.info("deleted %d expired interaction tokens", removed)
        return removed
