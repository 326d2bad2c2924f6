"""SQL of the `stored_blobs` table: kept files in the database (migration 0011)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.db import Reader, Row, Transaction

# Paths per statement: well under SQLite's limit of host parameters (32766), and few enough
# files (of a few MB each) in one answer.
CHUNK = 50


@dataclass(frozen=True, slots=True)
class Blob:
    """One kept file's bytes, under the path its job_files row names."""

    relpath: str
    data: bytes = field(repr=False)
    size: int
    created_at: datetime


async def put_blob(conn: Transaction, relpath: str, data: bytes, created_at: datetime) -> None:
    """Store `data` at `relpath`, replacing what was there: one statement, so a reader sees the
    old bytes or the whole new ones."""
    await conn.execute(
        "INSERT INTO stored_blobs (relpath, data, size, created_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (relpath) DO UPDATE SET data = excluded.data, size = excluded.size,"
        " created_at = excluded.created_at",
        (relpath, data, len(data), int(created_at.timestamp())),
    )


async def blobs_at(db: Reader, relpaths: Sequence[str]) -> list[Blob]:
    """The stored files among `relpaths` (missing ones left out), in no particular order."""
    found: list[Blob] = []
    for start in range(0, len(relpaths), CHUNK):
        chunk = relpaths[start : start + CHUNK]
        sql = f"SELECT * FROM stored_blobs WHERE relpath IN ({_marks(len(chunk))})"  # noqa: S608 - placeholders only
        rows = await db.fetchall(sql, tuple(chunk))
        found.extend(_row_to_blob(row) for row in rows)
    return found


async def delete_blobs(conn: Transaction, relpaths: Sequence[str]) -> int:
    """Delete the files at `relpaths` (missing ones are fine); how many went."""
    deleted = 0
    for start in range(0, len(relpaths), CHUNK):
        chunk = relpaths[start : start + CHUNK]
        sql = f"DELETE FROM stored_blobs WHERE relpath IN ({_marks(len(chunk))})"  # noqa: S608 - placeholders only
        done = await conn.execute(sql, tuple(chunk))
        deleted += done.rowcount
    return deleted


async def delete_strays(conn: Transaction, before: datetime) -> int:
    """Delete files stored before `before` that no job_files row names (an admission refused
    after its uploads were stored, a crash between a purge's two steps); how many went."""
    done = await conn.execute(
        "DELETE FROM stored_blobs WHERE created_at < ?"
        " AND NOT EXISTS (SELECT 1 FROM job_files f WHERE f.path = stored_blobs.relpath)",
        (int(before.timestamp()),),
    )
    return done.rowcount


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _row_to_blob(row: Row) -> Blob:
    return Blob(
        relpath=row["relpath"],
        data=row["data"],  # bytes from either driver (BLOB, bytea)
        size=row["size"],
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
    )
