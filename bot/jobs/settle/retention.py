"""Retention: kept files older than RESULT_RETENTION_DAYS are deleted."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import Clock
from bot.db import Database
from bot.store import jobs as store
from bot.store.files import FileStore


class Retention:
    """Deletes expired kept files, rows first."""

    def __init__(self, *, db: Database, files: FileStore, clock: Clock) -> None:
        self._db = db
        self._files = files
        self._clock = clock

    async def forget(self, job_id: int) -> int:
        """Delete every kept file of an ended job (its results and the member's inputs): what
        Delete on a result means. The job's row and its ledger stay (money is never forgotten);
        returns how many files."""
        rows = await store.files_of(self._db, job_id)
        job = await store.get_job(self._db, job_id)
        if not rows or job is None or job.state in ("queued", "running"):
            return 0
        async with self._db.transaction() as conn:
            await store.delete_file_rows(conn, rows)
        await self._files.delete(row.relpath for row in rows)
        return len(rows)

    async def purge_expired(self, retention_days: int) -> int:
        """Delete kept files older than the retention period (never a queued job's inputs);
        returns how many."""
        before = self._clock.now() - timedelta(retention_days)
        # Files no row names (in the database only: strays under DATA_DIR are left to the
        # operator, as they always were).
        await self._files.delete_strays(before)
        rows = await store.expired_files(self._db, before)
        if not rows:
            return 0
        # Rows first: a crash in between leaves stray files, never rows pointing at nothing.
        async with self._db.transaction() as conn:
            await store.delete_file_rows(conn, rows)
        await self._files.delete(row.relpath for row in rows)
        return len(rows)
