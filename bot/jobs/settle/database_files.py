"""Kept files in the database (DATABASE_URL set): every process reads what any one stored."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from bot.clock import Clock
from bot.db import Database, DriverError
from bot.store import blobs
from bot.store.files import FileStore


class DatabaseFileStore(FileStore):
    """Files as rows of `stored_blobs` (bot/store/blobs.py), one transaction per write."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def write(self, relpath: str, data: bytes) -> None:
        """One statement in its own transaction: readers see the whole file once committed."""
        try:
            async with self._db.transaction() as conn:
                await blobs.put_blob(conn, relpath, data, self._clock.now())
        except DriverError as exc:
            # The callers' contract (bot/store/files.py): a file that cannot be stored is an
            # OSError, as on a full disk.
            raise OSError(f"could not store {relpath}: {type(exc).__name__}") from exc

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
