"""A job's kept files as StoredFile records, with their bytes from the FileStore."""

from __future__ import annotations

from bot.db import Database
from bot.records import FileRole, StoredFile
from bot.store import jobs as store
from bot.store.files import FileStore
from bot.store.jobs import FileRow


def stored_file(row: FileRow, data: bytes) -> StoredFile:
    """A job_files row with the file's bytes."""
    return StoredFile(
        job_id=row.job_id,
        role=row.role,
        index=row.index,
        relpath=row.relpath,
        mime=row.mime,
        width=row.width,
        height=row.height,
        size_bytes=row.size_bytes,
        created_at=row.created_at,
        data=data,
    )


async def kept_files(
    db: Database, files: FileStore, job_id: int, role: FileRole | None = None
) -> tuple[StoredFile, ...]:
    """A job's kept files (of one role, or all), by role then index; a file whose row remains
    but which is gone from the store (removed by hand, or a crash between a purge's two steps)
    is left out, so nothing tries to send it."""
    rows = await store.files_of(db, job_id, role)
    kept = await files.read_kept([row.relpath for row in rows])
    return tuple(stored_file(row, kept[row.relpath]) for row in rows if row.relpath in kept)
