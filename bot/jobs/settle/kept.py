"""A job's kept files as StoredFile records with absolute paths under DATA_DIR."""

from __future__ import annotations

from bot.db import Database
from bot.records import FileRole, StoredFile
from bot.store import jobs as store
from bot.store.files import FileStore
from bot.store.jobs import FileRow


def stored_file(files: FileStore, row: FileRow) -> StoredFile:
    """A job_files row with its absolute path under DATA_DIR."""
    return StoredFile(
        job_id=row.job_id,
        role=row.role,
        index=row.index,
        relpath=row.relpath,
        path=files.resolve(row.relpath),
        mime=row.mime,
        width=row.width,
        height=row.height,
        size_bytes=row.size_bytes,
        created_at=row.created_at,
    )


async def kept_files(
    db: Database, files: FileStore, job_id: int, role: FileRole | None = None
) -> tuple[StoredFile, ...]:
    """A job's kept files (of one role, or all), by role then index; a file whose row remains
    but which is gone from disk (removed by hand, or a crash between a purge's two steps) is
    left out, so nothing tries to send it."""
    rows = await store.files_of(db, job_id, role)
    kept = (stored_file(files, row) for row in rows)
    return tuple(f for f in kept if f.path.is_file())
