"""SQL of the `jobs` and `job_files` tables (a job's charge after admission: endings.py)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.db import Reader, Row, Transaction
from bot.domain import ImageOptions, Operation, Speed
from bot.records import FileRole, JobRecord, JobState, NewFile

DAY = 86400  # seconds; the counters of migration 0007 are by created_at // DAY
_OPTION_NAMES = tuple(field.name for field in dataclasses.fields(ImageOptions))
_OPTION_FIELDS = frozenset(_OPTION_NAMES)


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """What a guild's and one member's jobs count against the limits (created_at periods)."""

    guild_day_micro_usd: int
    guild_month_micro_usd: int
    guild_day_images: int
    user_day_micro_usd: int
    user_day_images: int
    guild_queued: int
    user_queued: int
    account_day_micro_usd: int = 0  # every guild's together (ACCOUNT_DAILY_USD)
    account_month_micro_usd: int = 0


@dataclass(frozen=True, slots=True)
class NewJob:
    """What admission inserts."""

    guild_id: int
    channel_id: int
    user_id: int
    operation: Operation
    prompt: str
    options: ImageOptions
    reserved_micro_usd: int
    reserved_images: int
    estimated_tokens: int
    source_job_id: int | None
    created_at: datetime
    style: str | None = None
    speed: Speed = "fast"
    style_text: str | None = None  # the style's text at admission (migration 0005)


@dataclass(frozen=True, slots=True)
class FileRow:
    """One `job_files` row; `relpath` is relative to DATA_DIR."""

    job_id: int
    role: FileRole
    index: int
    relpath: str
    mime: str
    width: int
    height: int
    size_bytes: int
    created_at: datetime


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _dt(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def options_to_json(options: ImageOptions) -> str:
    # Plain values only: asdict would deep-copy each one, on every admission.
    return json.dumps({name: getattr(options, name) for name in _OPTION_NAMES}, sort_keys=True)


def options_from_json(text: str) -> ImageOptions:
    data: dict[str, Any] = json.loads(text)
    # Unknown keys come from a newer version of the bot; ignore them rather than fail a restart.
    return ImageOptions(**{k: v for k, v in data.items() if k in _OPTION_FIELDS})


def queued_record(job_id: int, job: NewJob) -> JobRecord:
    """The row `job` was inserted as, without reading it back (admission's hot path: parsing
    the row cost more than building it). Equal to `row_to_job` of that row: the database keeps
    whole seconds, and every other column starts NULL or at its default."""
    return JobRecord(
        id=job_id,
        guild_id=job.guild_id,
        channel_id=job.channel_id,
        user_id=job.user_id,
        operation=job.operation,
        prompt=job.prompt,
        options=job.options,
        state="queued",
        charged_micro_usd=job.reserved_micro_usd,
        charged_images=job.reserved_images,
        estimated_micro_usd=job.reserved_micro_usd,
        estimated_tokens=job.estimated_tokens,
        created_at=datetime.fromtimestamp(ts(job.created_at), UTC),
        source_job_id=job.source_job_id,
        style=job.style,
        speed=job.speed,
        style_text=job.style_text,
    )


def row_to_job(row: Row) -> JobRecord:
    created = _dt(row["created_at"])
    assert created is not None
    return JobRecord(
        id=row["id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        operation=row["operation"],
        prompt=row["prompt"],
        options=options_from_json(row["options_json"]),
        state=row["state"],
        charged_micro_usd=row["charged_micro_usd"],
        charged_images=row["charged_images"],
        estimated_micro_usd=row["estimated_micro_usd"],
        estimated_tokens=row["estimated_tokens"],
        created_at=created,
        source_job_id=row["source_job_id"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        result_channel_id=row["result_channel_id"],
        result_message_id=row["result_message_id"],
        delivered_at=_dt(row["delivered_at"]),
        started_at=_dt(row["started_at"]),
        finished_at=_dt(row["finished_at"]),
        style=row["style"],
        speed=row["speed"],
        style_text=row["style_text"],
        billing=row["billing"] if "billing" in row.keys() else None,  # noqa: SIM118 - none before 0008
    )


# Per-day totals and queued counts kept by triggers (migration 0007): a few rows per admission,
# however many jobs the guild's month holds.
_GUILD_USE = """
SELECT (SELECT COALESCE(SUM(micro_usd), 0) FROM guild_day_use
        WHERE guild_id = :guild AND day >= :day) AS g_day_usd,
       (SELECT COALESCE(SUM(micro_usd), 0) FROM guild_day_use
        WHERE guild_id = :guild AND day >= :month) AS g_month_usd,
       (SELECT COALESCE(SUM(images), 0) FROM guild_day_use
        WHERE guild_id = :guild AND day >= :day) AS g_day_images,
       (SELECT COALESCE(SUM(micro_usd), 0) FROM member_day_use
        WHERE guild_id = :guild AND user_id = :user AND day >= :day) AS u_day_usd,
       (SELECT COALESCE(SUM(images), 0) FROM member_day_use
        WHERE guild_id = :guild AND user_id = :user AND day >= :day) AS u_day_images,
       (SELECT COALESCE(SUM(queued), 0) FROM member_queued WHERE guild_id = :guild) AS g_queued,
       (SELECT COALESCE(SUM(queued), 0) FROM member_queued
        WHERE guild_id = :guild AND user_id = :user) AS u_queued,"""
# The account's totals sum every guild's day rows of the month, so they are read only when an
# account ceiling is set (ACCOUNT_DAILY_USD, ACCOUNT_MONTHLY_USD): SQLite computes every column
# of the subquery a reservation reads from, and a bot in thousands of guilds paid for that scan
# on each /imagine (tests/unit/jobs/admit/test_admission.py).
_BUDGET_USE = {
    False: f"{_GUILD_USE}\n       0 AS a_day_usd, 0 AS a_month_usd\n",
    True: f"""{_GUILD_USE}
       (SELECT COALESCE(SUM(micro_usd), 0) FROM guild_day_use WHERE day >= :day) AS a_day_usd,
       (SELECT COALESCE(SUM(micro_usd), 0) FROM guild_day_use WHERE day >= :month) AS a_month_usd
""",  # noqa: S608 (constant SQL text; every value is a parameter)
}


async def budget_use(
    db: Reader, guild_id: int, user_id: int, day: datetime, month: datetime, *, account: bool
) -> BudgetUse:
    """Charges of the jobs created since `day` and since `month` (UTC midnights), and the queued
    counts; every guild's together only when `account` (else 0: no account ceiling is set)."""
    params = {"guild": guild_id, "user": user_id, "day": ts(day) // DAY, "month": ts(month) // DAY}
    [use] = await db.fetchall(_BUDGET_USE[account], params)  # aggregates return one row
    return BudgetUse(
        guild_day_micro_usd=use["g_day_usd"],
        guild_month_micro_usd=use["g_month_usd"],
        guild_day_images=use["g_day_images"],
        user_day_micro_usd=use["u_day_usd"],
        user_day_images=use["u_day_images"],
        guild_queued=use["g_queued"],
        user_queued=use["u_queued"],
        account_day_micro_usd=use["a_day_usd"],
        account_month_micro_usd=use["a_month_usd"],
    )


_INSERT_JOB = """
INSERT INTO jobs (guild_id, channel_id, user_id, operation, prompt, options_json, state,
                  charged_micro_usd, charged_images, estimated_micro_usd, estimated_tokens,
                  source_job_id, created_at, style, speed, style_text)
VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?)
RETURNING *
"""


async def insert_job(conn: Transaction, job: NewJob) -> JobRecord:
    """Insert a queued job holding its reservation; returns the stored record."""
    [row] = await conn.fetchall(
        _INSERT_JOB,
        (
            job.guild_id,
            job.channel_id,
            job.user_id,
            job.operation,
            job.prompt,
            options_to_json(job.options),
            job.reserved_micro_usd,
            job.reserved_images,
            job.reserved_micro_usd,
            job.estimated_tokens,
            job.source_job_id,
            ts(job.created_at),
            job.style,
            job.speed,
            job.style_text,
        ),
    )
    return row_to_job(row)


async def insert_files(
    conn: Transaction, job_id: int, files: Sequence[NewFile], created_at: datetime
) -> None:
    if not files:
        return
    created = ts(created_at)
    await conn.executemany(
        "INSERT INTO job_files (job_id, role, idx, path, mime, width, height, bytes, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (job_id, f.role, f.index, f.relpath, f.mime, f.width, f.height, f.size_bytes, created)
            for f in files
        ],
    )


async def get_job(db: Reader, job_id: int) -> JobRecord | None:
    row = await db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
    return None if row is None else row_to_job(row)


async def jobs_by_ids(db: Reader, job_ids: Sequence[int]) -> dict[int, JobRecord]:
    if not job_ids:
        return {}
    marks = ", ".join("?" * len(job_ids))
    rows = await db.fetchall(f"SELECT * FROM jobs WHERE id IN ({marks})", tuple(job_ids))  # noqa: S608 - placeholders only
    return {row["id"]: row_to_job(row) for row in rows}


async def jobs_in_state(db: Reader, state: JobState) -> list[JobRecord]:
    """Jobs in one state, oldest first."""
    rows = await db.fetchall("SELECT * FROM jobs WHERE state = ? ORDER BY id", (state,))
    return [row_to_job(row) for row in rows]


async def is_running(db: Reader, job_id: int) -> bool:
    """Whether the job is still running (another process's recovery may have ended it)."""
    row = await db.fetchone("SELECT 1 FROM jobs WHERE id = ? AND state = 'running'", (job_id,))
    return row is not None


async def queued_ids(db: Reader, speed: Speed) -> list[int]:
    """The ids of the queued jobs of one speed, oldest first (a process's mirror of the queue
    reads these up to four times a second, bot/cluster/sync.py; records only for the new ones)."""
    # One row of JSON, not a row per job: the queue may be thousands deep, and a row costs the
    # driver far more than a number in json.loads (benchmarks/cluster.py).
    row = await db.fetchone(
        "SELECT COALESCE((SELECT json_group_array(id) FROM (SELECT id FROM jobs"
        " WHERE state = 'queued' AND speed = ? ORDER BY id) AS q), '[]')",
        (speed,),
    )
    return sorted(json.loads(row[0])) if row is not None else []


async def undelivered(db: Reader, since: datetime) -> list[JobRecord]:
    """Succeeded jobs finished since `since` whose result no message has shown."""
    rows = await db.fetchall(
        "SELECT * FROM jobs WHERE state = 'succeeded' AND delivered_at IS NULL"
        " AND finished_at >= ? ORDER BY id",
        (ts(since),),
    )
    return [row_to_job(row) for row in rows]


async def untold(db: Reader, since: datetime) -> list[JobRecord]:
    """Jobs that ended since `since` without a result (failed, unknown, cancelled) whose notice
    no message has shown yet."""
    rows = await db.fetchall(
        "SELECT * FROM jobs WHERE state IN ('failed', 'unknown', 'cancelled')"
        " AND delivered_at IS NULL AND finished_at >= ? ORDER BY id",
        (ts(since),),
    )
    return [row_to_job(row) for row in rows]


async def mark_told(conn: Transaction, job_id: int, now: datetime) -> None:
    """A job's ending was shown to its member (a notice; results use mark_delivered)."""
    await conn.execute(
        "UPDATE jobs SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL", (ts(now), job_id)
    )


async def mark_running(
    conn: Transaction, job_id: int, now: datetime, process_id: int | None = None
) -> bool:
    """queued -> running by process `process_id` (bot/cluster/liveness.py; None on SQLite);
    False when the job is no longer queued (cancelled meanwhile)."""
    cursor = await conn.execute(
        "UPDATE jobs SET state = 'running', started_at = ?, process_id = ?"
        " WHERE id = ? AND state = 'queued'",
        (ts(now), process_id, job_id),
    )
    return cursor.rowcount == 1


async def set_unsent(conn: Transaction, job_id: int, images: int, micro_usd: int) -> None:
    """Before a request goes out: the running job's slots still unsent and their share."""
    await conn.execute(
        "UPDATE jobs SET unsent_images = ?, unsent_micro_usd = ?"
        " WHERE id = ? AND state = 'running'",
        (images, micro_usd, job_id),
    )


async def unsent(db: Reader, job_id: int) -> tuple[int, int]:
    """(images, micro-USD) of a running job never sent; (0, 0) when none was recorded."""
    row = await db.fetchone(
        "SELECT unsent_images, unsent_micro_usd FROM jobs WHERE id = ?", (job_id,)
    )
    if row is None or row[0] is None:
        return 0, 0
    return int(row[0]), int(row[1])


async def requeue(conn: Transaction, job_id: int) -> bool:
    """running -> queued, keeping the reservation (a 429, or a stop before the call went out)."""
    cursor = await conn.execute(
        "UPDATE jobs SET state = 'queued', started_at = NULL WHERE id = ? AND state = 'running'",
        (job_id,),
    )
    return cursor.rowcount == 1


async def mark_delivered(
    conn: Transaction, job_id: int, channel_id: int, message_id: int, now: datetime
) -> bool:
    cursor = await conn.execute(
        "UPDATE jobs SET result_channel_id = ?, result_message_id = ?, delivered_at = ?"
        " WHERE id = ?",
        (channel_id, message_id, ts(now), job_id),
    )
    return cursor.rowcount == 1


def _row_to_file(row: Row) -> FileRow:
    created = _dt(row["created_at"])
    assert created is not None
    return FileRow(
        job_id=row["job_id"],
        role=row["role"],
        index=row["idx"],
        relpath=row["path"],
        mime=row["mime"],
        width=row["width"],
        height=row["height"],
        size_bytes=row["bytes"],
        created_at=created,
    )


async def files_of(db: Reader, job_id: int, role: FileRole | None = None) -> list[FileRow]:
    """A job's files, by role then index."""
    sql = "SELECT * FROM job_files WHERE job_id = ?"
    params: tuple[object, ...] = (job_id,)
    if role is not None:
        sql, params = sql + " AND role = ?", (job_id, role)
    rows = await db.fetchall(sql + " ORDER BY role, idx", params)
    return [_row_to_file(row) for row in rows]


async def expired_files(db: Reader, before: datetime) -> list[FileRow]:
    """Files older than `before` of jobs that no longer need them (never a queued job's input)."""
    rows = await db.fetchall(
        "SELECT f.* FROM job_files f JOIN jobs j ON j.id = f.job_id"
        " WHERE f.created_at < ? AND j.state NOT IN ('queued', 'running')",
        (ts(before),),
    )
    return [_row_to_file(row) for row in rows]


async def delete_file_rows(conn: Transaction, files: Sequence[FileRow]) -> None:
    await conn.executemany(
        "DELETE FROM job_files WHERE job_id = ? AND role = ? AND idx = ?",
        [(f.job_id, f.role, f.index) for f in files],
    )
