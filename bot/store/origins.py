"""Interaction origins: the token that edits a job's original response, kept for 15 minutes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.db import Reader, Transaction, Writer
from bot.db.base import Row
from bot.records import InteractionOrigin
from bot.store.jobs import ts


async def put(conn: Writer, origin: InteractionOrigin) -> None:
    await put_all(conn, [origin])


async def put_all(conn: Writer, origins: Sequence[InteractionOrigin]) -> None:
    """Store several origins in one statement, each replacing the job's stored one (the last
    given wins for a job given twice)."""
    latest = list({origin.job_id: origin for origin in origins}.values())
    if not latest:
        return
    rows = ", ".join(["(?, ?, ?, ?, ?)"] * len(latest))
    params = [
        value
        for o in latest
        for value in (o.job_id, o.application_id, o.token, ts(o.created_at), int(o.private))
    ]
    columns = "job_id, application_id, token, created_at, private"
    sql = f"INSERT INTO interaction_origins ({columns}) VALUES {rows}"  # noqa: S608 - placeholders only
    sql += (
        " ON CONFLICT (job_id) DO UPDATE SET application_id = excluded.application_id,"
        " token = excluded.token, created_at = excluded.created_at, private = excluded.private"
    )
    await conn.write(sql, params)


async def get(db: Reader, job_id: int) -> InteractionOrigin | None:
    row = await db.fetchone(
        "SELECT job_id, application_id, token, created_at, private FROM interaction_origins"
        " WHERE job_id = ?",
        (job_id,),
    )
    return None if row is None else _origin(row)


async def delete(conn: Writer, job_id: int) -> None:
    await conn.write("DELETE FROM interaction_origins WHERE job_id = ?", (job_id,))


async def delete_created_before(conn: Transaction, before: datetime) -> int:
    """Delete the origins of interactions created before `before`; returns how many."""
    written = await conn.execute(
        "DELETE FROM interaction_origins WHERE created_at < ?", (ts(before),)
    )
    return written.rowcount


def _origin(row: Row) -> InteractionOrigin:
    return InteractionOrigin(
        job_id=row["job_id"],
        application_id=row["application_id"],
        token=row["token"],
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
        private=bool(row["private"]),
    )
