"""Kept files in the database (DATABASE_URL set): every process reads what any one stored."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from bot.clock import Clock
from bot.db import Database, DriverError, Outage
from bot.store import blobs
from bot.store.files import FileStore

log = logging.getLogger(__name__)

# How long a file waits for PostgreSQL to take it when the server is gone (a restart, a failover):
# a result is paid for and held in memory meanwhile. Past this the write fails (an OSError), and
# a result's job ends saying its images could not be stored.
STORE_PATIENCE_S = 300.0
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)  # then every 15 s


class DatabaseFileStore(FileStore):
    """Files as rows of `stored_blobs` (bot/store/blobs.py), one transaction per write."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def write(self, relpath: str, data: bytes) -> None:
        """One statement in its own transaction: readers see the whole file once committed.
        While PostgreSQL is gone it is tried again for up to STORE_PATIENCE_S (the statement
        replaces the file: a retry after a commit whose answer was lost changes nothing)."""
        waited = 0.0
        for attempt in itertools.count():
            try:
                async with self._db.transaction() as conn:
                    await blobs.put_blob(conn, relpath, data, self._clock.now())
                return
            except Outage as exc:
                delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
                if waited + delay > STORE_PATIENCE_S:
                    raise _not_stored(relpath, exc) from exc
                if not attempt:
                    log.warning("PostgreSQL did not take %s (%s): trying again for up to %g s",
                                relpath, type(exc).__name__, STORE_PATIENCE_S)  # fmt: skip
                await self._clock.sleep(delay)
                waited += delay
            except DriverError as exc:
                raise _not_stored(relpath, exc) from exc

    async def read(self, relpath: str) -> bytes:
        found = await blobs.blobs_at(self._db, [relpath])
        if not found:
            raise FileNotFoundError(relpath)
        return found[0].data

    async def read_kept(self, relpaths: Sequence[str]) -> dict[str, bytes]:
        return {blob.relpath: blob.data for blob in await blobs.blobs_at(self._db, relpaths)}

    async def delete(self, relpaths: Iterable[str]) -> int:
        paths = list(relpaths)
        if not paths:
            return 0
        async with self._db.transaction() as conn:
            return await blobs.delete_blobs(conn, paths)

    async def delete_strays(self, before: datetime) -> int:
        async with self._db.transaction() as conn:
            return await blobs.delete_strays(conn, before)


def _not_stored(relpath: str, exc: BaseException) -> OSError:
    # The callers' contract (bot/store/files.py): a file that cannot be stored is an OSError,
    # as on a full disk.
    return OSError(f"could not store {relpath}: {type(exc).__name__}")
