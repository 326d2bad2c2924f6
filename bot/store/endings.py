"""A job's charge after admission: while it runs, and the one write that ends it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.db import Transaction
from bot.records import Billing, JobRecord, JobState, NewFile
from bot.store.jobs import insert_files, row_to_job, ts
from bot.store.ledger import ApiCall, insert_api_call

EndState = Literal["succeeded", "failed", "cancelled", "unknown"]


@dataclass(frozen=True, slots=True)
class JobEnding:
    """How one job ends: the state it moves to from one of `expected`, what it keeps charged
    (0 releases the reservation) and how that cost is known, with the rows the ending writes."""

    job_id: int
    state: EndState
    charged_micro_usd: int
    charged_images: int
    billing: Billing  # how `charged_micro_usd` is known: measured, estimated or in doubt
    at: datetime
    expected: tuple[JobState, ...] = ("running",)
    error_code: str | None = None
    error_message: str | None = None
    calls: tuple[ApiCall, ...] = ()  # ledger rows of this ending (calls not recorded yet)
    files: tuple[NewFile, ...] = ()  # results kept by this ending (already on disk)


_END = """
UPDATE jobs SET state = ?, charged_micro_usd = ?, charged_images = ?, finished_at = ?,
       error_code = ?, error_message = ?
WHERE id = ? AND state IN ({expected})
"""
# The job's billing from its ledger rows (the view of migration 0008), in the ending's
# transaction, so what a member reads about the cost and what the ledger says are one record.
_BILLING = """
UPDATE jobs SET billing = COALESCE((SELECT b.billing FROM job_billing b WHERE b.job_id = ?),
                                   'actual')
WHERE id = ?
RETURNING *
"""


async def end_job(conn: Transaction, ending: JobEnding) -> JobRecord | None:
    """End the job inside the caller's transaction, only if its state is one of `expected`:
    then, and only then, its ledger rows and files are written. Returns the ended record, or
    None when the job had already left those states (nothing written)."""
    if not ending.expected:
        raise ValueError("an ending needs the states it may end a job from")
    await lock_guild_of_job(conn, ending.job_id)
    expected = ", ".join("?" * len(ending.expected))
    cursor = await conn.execute(
        _END.format(expected=expected),
        (
            ending.state,
            ending.charged_micro_usd,
            ending.charged_images,
            ts(ending.at),
            ending.error_code,
            ending.error_message,
            ending.job_id,
            *ending.expected,
        ),
    )
    if cursor.rowcount != 1:
        return None
    for call in ending.calls:
        await insert_api_call(conn, call)
    await insert_files(conn, ending.job_id, ending.files, ending.at)
    row = await conn.fetchone(_BILLING, (ending.job_id, ending.job_id))
    assert row is not None  # the job was just updated
    return row_to_job(row)


async def lock_guild_of_job(conn: Transaction, job_id: int) -> None:
    """Take the job's guild lock first, as a reservation does: every transaction that writes a
    job's counters or its ledger rows takes it before any row lock, so they take turns instead
    of deadlocking. On PostgreSQL an ending from 'queued' updates member_queued before
    guild_day_use (migration 0007's triggers fire in name order), a reservation's insert the
    other way round; an answer's ledger row (api_calls_daily) came before its charge
    (guild_day_use), an ending with a ledger row the other way round
    (tests/unit/store/test_reservations.py, admissions and settlements across processes)."""
    row = await conn.fetchone("SELECT guild_id FROM jobs WHERE id = ?", (job_id,))
    if row is not None:
        await conn.lock_guild(int(row[0]))


async def lock_guilds_of_jobs(conn: Transaction, job_ids: Sequence[int]) -> None:
    """The guild locks of several jobs (a relaxed batch's), in ascending guild order: every
    transaction that takes more than one takes them in that order (a reservation's account lock,
    key 0, comes first), so two can never wait on each other."""
    if not job_ids:
        return
    marks = ", ".join("?" * len(job_ids))
    rows = await conn.fetchall(
        f"SELECT DISTINCT guild_id FROM jobs WHERE id IN ({marks}) ORDER BY guild_id",  # noqa: S608 - placeholders only
        tuple(job_ids),
    )
    for row in rows:
        await conn.lock_guild(int(row[0]))


async def set_running_charge(conn: Transaction, job_id: int, charged_micro_usd: int) -> bool:
    """A running job's charge as its requests come back (answered ones at their real cost)."""
    cursor = await conn.execute(
        "UPDATE jobs SET charged_micro_usd = ? WHERE id = ? AND state = 'running'",
        (charged_micro_usd, job_id),
    )
    return cursor.rowcount == 1
