"""CallSettlement: a call's ledger row is written in its guild's turn, after the job's endings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from bot.clock import ManualClock
from bot.db import Database, open_database
from bot.errors import UpstreamError
from bot.jobs.settle.calls import CallSettlement
from bot.jobs.split import Chunk
from bot.provider.images import FailedAttempt
from bot.store import jobs as store
from bot.store.disk_files import DiskFileStore
from tests.pg import PostgresServer
from tests.unit.db.test_postgres_locks import waits_for_a_lock
from tests.unit.jobs_harness import catalog
from tests.unit.store.test_origins import new_job

START = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)


async def running_job(db: Database) -> int:
    job_id = await new_job(db)
    async with db.transaction() as conn:
        assert await store.mark_running(conn, job_id, START)
    return job_id


async def test_a_calls_ledger_row_waits_for_its_guilds_lock(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    """An ending holds the guild's lock and then writes its own ledger row (bot/store/endings.py);
    a call's row written meanwhile must wait for that lock before touching any row, or the two
    transactions lock the daily ledger and the budget counters in opposite orders and deadlock
    (a paid image lost with the aborted one)."""
    url = pg_server.new_database()
    async with open_database(url) as ending_db, open_database(url) as answer_db:
        job_id = await running_job(ending_db)
        job = await store.get_job(ending_db, job_id)
        assert job is not None
        files, clock = DiskFileStore(tmp_path), ManualClock(START)
        settlement = CallSettlement(db=answer_db, catalog=catalog(), files=files, clock=clock)
        error = UpstreamError("upstream failed", status=500, code="server_error")
        attempt = FailedAttempt(500, "server_error", "req_1", 900, error)
        async with ending_db.transaction() as conn:
            await conn.lock_guild(job.guild_id)
            writing = asyncio.create_task(settlement.attempt(job, Chunk((0,), 0, 0), attempt))
            assert await waits_for_a_lock(ending_db, writing)
        await writing
        rows = await answer_db.fetchall("SELECT http_status FROM api_calls WHERE job_id = ?",
                                        (job_id,))  # fmt: skip
        assert [row[0] for row in rows] == [500]
    pg_server.drop_database(url)
