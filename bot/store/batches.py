"""All SQL of the relaxed speed's `batches` and `batch_jobs` tables (migration 0006).

A batch row is written before anything goes to the provider, with its jobs moved from queued to
running in the same transaction; `batch_jobs.job_id` is a primary key, so a job is in at most
one batch (only a batch the provider refused before running anything gives its jobs back). The
input file id and the provider's batch id are recorded as soon as each is known. Writes take the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from bot.db import Reader, Row, Transaction
from bot.records import JobRecord, RelaxedJob
from bot.store.endings import lock_guilds_of_jobs
from bot.store.jobs import row_to_job, ts

BatchState = Literal["preparing", "submitted", "ended"]


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One of our batches: `key` is sent as metadata, `openai_batch_id` once created."""

    id: int
    key: str
    model: str
    operation: str
    state: BatchState
    input_file_id: str | None
    openai_batch_id: str | None
    status: str | None
    output_file_id: str | None
    error_file_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BatchMember:
    """A job of a batch and the custom_id of its line."""

    job_id: int
    custom_id: str


def custom_id(job_id: int) -> str:
    return f"job-{job_id}"


def _row(row: Row) -> BatchRow:
    return BatchRow(
        id=row["id"],
        key=row["key"],
        model=row["model"],
        operation=row["operation"],
        state=row["state"],
        input_file_id=row["input_file_id"],
        openai_batch_id=row["openai_batch_id"],
        status=row["status"],
        output_file_id=row["output_file_id"],
        error_file_id=row["error_file_id"],
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
    )


async def open_batch(
    conn: Transaction,
    *,
    key: str,
    model: str,
    operation: str,
    job_ids: Sequence[int],
    now: datetime,
) -> tuple[BatchRow, list[int]] | None:
    """Take the still-queued relaxed jobs among `job_ids` into a new batch (they become running).

    Returns the batch and the ids it took, or None when none was still queued (all cancelled).
    """
    # Their counters change (member_queued): the guilds' turns first, as a Cancel takes its own.
    await lock_guilds_of_jobs(conn, job_ids)
    taken: list[int] = []
    for job_id in job_ids:
        cursor = await conn.execute(
            "UPDATE jobs SET state = 'running', started_at = ?"
            " WHERE id = ? AND state = 'queued' AND speed = 'relaxed'",
            (ts(now), job_id),
        )
        if cursor.rowcount == 1:
            taken.append(job_id)
    if not taken:
        return None
    inserted = await conn.fetchone(
        "INSERT INTO batches (key, model, operation, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        (key, model, operation, ts(now)),
    )
    assert inserted is not None  # RETURNING yields the inserted row
    batch_id = int(inserted[0])
    await conn.executemany(
        "INSERT INTO batch_jobs (job_id, batch_id, custom_id) VALUES (?, ?, ?)",
        [(job_id, batch_id, custom_id(job_id)) for job_id in taken],
    )
    row = await get_batch_in(conn, batch_id)
    assert row is not None
    return row, taken


async def get_batch_in(db: Reader, batch_id: int) -> BatchRow | None:
    row = await db.fetchone("SELECT * FROM batches WHERE id = ?", (batch_id,))
    return None if row is None else _row(row)


async def set_input_file(conn: Transaction, batch_id: int, file_id: str) -> None:
    await conn.execute("UPDATE batches SET input_file_id = ? WHERE id = ?", (file_id, batch_id))


async def set_submitted(
    conn: Transaction, batch_id: int, openai_batch_id: str, status: str, now: datetime
) -> None:
    await conn.execute(
        "UPDATE batches SET openai_batch_id = ?, status = ?, state = 'submitted',"
        " submitted_at = ? WHERE id = ?",
        (openai_batch_id, status, ts(now), batch_id),
    )


async def set_status(conn: Transaction, batch_id: int, status: str) -> None:
    await conn.execute("UPDATE batches SET status = ? WHERE id = ?", (status, batch_id))


async def set_ended(
    conn: Transaction,
    batch_id: int,
    *,
    status: str,
    output_file_id: str | None,
    error_file_id: str | None,
    now: datetime,
) -> None:
    await conn.execute(
        "UPDATE batches SET state = 'ended', status = ?, output_file_id = ?, error_file_id = ?,"
        " ended_at = ? WHERE id = ?",
        (status, output_file_id, error_file_id, ts(now), batch_id),
    )


async def give_back(
    conn: Transaction, batch_id: int, *, job_ids: Sequence[int] | None = None
) -> list[JobRecord]:
    """A batch the provider refused before running anything (or, with `job_ids`, those of its
    jobs left out of its input file): its running jobs are queued again and leave it (they may
    join another batch). Returns them as now stored."""
    found = await conn.fetchall(
        "SELECT job_id FROM batch_jobs WHERE batch_id = ? ORDER BY job_id", (batch_id,)
    )
    ids = [row[0] for row in found]
    if job_ids is not None:
        ids = [job_id for job_id in ids if job_id in set(job_ids)]
    await lock_guilds_of_jobs(conn, ids)  # as open_batch: their counters change
    back: list[JobRecord] = []
    for job_id in ids:
        cursor = await conn.execute(
            "UPDATE jobs SET state = 'queued', started_at = NULL"
            " WHERE id = ? AND state = 'running'",
            (job_id,),
        )
        if cursor.rowcount == 1:
            row = await conn.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
            assert row is not None
            back.append(row_to_job(row))
    if job_ids is None:
        await conn.execute("DELETE FROM batch_jobs WHERE batch_id = ?", (batch_id,))
    else:
        await conn.executemany(
            "DELETE FROM batch_jobs WHERE batch_id = ? AND job_id = ?",
            [(batch_id, job_id) for job_id in ids],
        )
    return back


async def open_batches(db: Reader) -> list[BatchRow]:
    """Batches not yet ended (preparing or submitted), oldest first."""
    rows = await db.fetchall("SELECT * FROM batches WHERE state != 'ended' ORDER BY id")
    return [_row(row) for row in rows]


async def members(db: Reader, batch_id: int) -> list[BatchMember]:
    rows = await db.fetchall(
        "SELECT job_id, custom_id FROM batch_jobs WHERE batch_id = ? ORDER BY job_id", (batch_id,)
    )
    return [BatchMember(row["job_id"], row["custom_id"]) for row in rows]


async def queued_relaxed(db: Reader) -> list[JobRecord]:
    """Relaxed jobs waiting to be gathered into a batch, oldest first."""
    rows = await db.fetchall(
        "SELECT * FROM jobs WHERE state = 'queued' AND speed = 'relaxed' ORDER BY id"
    )
    return [row_to_job(row) for row in rows]


async def batched_job_ids(db: Reader) -> set[int]:
    """Running jobs that belong to a batch not yet ended (restart recovery leaves them alone)."""
    rows = await db.fetchall(
        "SELECT bj.job_id FROM batch_jobs bj JOIN batches b ON b.id = bj.batch_id"
        " WHERE b.state != 'ended'"
    )
    return {row["job_id"] for row in rows}


async def waiting_relaxed(db: Reader, guild_id: int, user_id: int | None) -> list[RelaxedJob]:
    """A guild's (or one member's) relaxed jobs not yet ended, oldest first."""
    sql = (
        "SELECT j.*, COALESCE(b.status, b.state) AS batch_status FROM jobs j"
        " LEFT JOIN batch_jobs bj ON bj.job_id = j.id LEFT JOIN batches b ON b.id = bj.batch_id"
        " WHERE j.guild_id = ? AND j.speed = 'relaxed' AND j.state IN ('queued', 'running')"
    )
    params: tuple[object, ...] = (guild_id,)
    if user_id is not None:
        sql, params = sql + " AND j.user_id = ?", (guild_id, user_id)
    rows = await db.fetchall(sql + " ORDER BY j.id", params)
    return [RelaxedJob(row_to_job(row), row["batch_status"]) for row in rows]
