"""Which process runs (or ran) a job: recorded when it starts running (migration 0013)."""

from __future__ import annotations

from collections.abc import Collection

from bot.db import Reader


async def job_processes(db: Reader, job_ids: Collection[int]) -> dict[int, int]:
    """The process of each of these jobs that has one (job id -> process id)."""
    if not job_ids:
        return {}
    marks = ", ".join("?" for _ in job_ids)
    rows = await db.fetchall(
        f"SELECT id, process_id FROM jobs WHERE id IN ({marks}) AND process_id IS NOT NULL",  # noqa: S608 - only placeholders
        tuple(job_ids),
    )
    return {int(row[0]): int(row[1]) for row in rows}
