"""end_job: a job ends once, from the state it was expected in, with its rows or not at all."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.db import Database, open_database
from bot.domain import ImageOptions, TokenUsage
from bot.records import JobRecord, NewFile
from bot.store import jobs as store
from bot.store.endings import JobEnding, end_job
from bot.store.ledger import ApiCall, Billing, calls_for_job, insert_api_call

pytestmark = pytest.mark.asyncio
NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
PNG = NewFile("result", 0, "results/1/0.png", "image/png", 4, 4, 100)


async def running_job(db: Database) -> JobRecord:
    new = store.NewJob(guild_id=1, channel_id=2, user_id=3, operation="generate",
                       prompt="a fox", options=ImageOptions(model="gpt-image-1"),
                       reserved_micro_usd=40_000, reserved_images=1, estimated_tokens=1000,
                       source_job_id=None, created_at=NOW)  # fmt: skip
    async with db.transaction() as conn:
        job = await store.insert_job(conn, new)
        assert await store.mark_running(conn, job.id, NOW)
    return job


def row(job: JobRecord, cost: int, billing: Billing = "actual") -> ApiCall:
    return ApiCall(guild_id=1, channel_id=2, user_id=3, job_id=job.id, model="gpt-image-1",
                   operation="generate", n=1, size="1024x1024", quality="low",
                   usage=TokenUsage(), cost_micro_usd=cost, price_version="test",
                   latency_ms=10, created_at=NOW, images=1, billing=billing)  # fmt: skip


def succeeded(job: JobRecord, cost: int, billing: Billing) -> JobEnding:
    return JobEnding(job.id, "succeeded", cost, 1, billing, NOW,
                     calls=(row(job, cost, billing),), files=(PNG,))  # fmt: skip


async def end(db: Database, ending: JobEnding) -> JobRecord | None:
    async with db.transaction() as conn:
        return await end_job(conn, ending)


async def test_an_ending_writes_its_state_rows_files_and_billing_together(
    db_target: Path | str,
) -> None:
    async with open_database(db_target) as db:
        job = await running_job(db)
        done = await end(db, succeeded(job, 30_000, "estimated"))
        assert done is not None and done == await store.get_job(db, job.id)
        assert (done.state, done.charged_micro_usd, done.billing) == ("succeeded", 30_000,
                                                                      "estimated")  # fmt: skip
        assert [c.billing for c in await calls_for_job(db, job.id)] == ["estimated"]
        assert [f.relpath for f in await store.files_of(db, job.id)] == [PNG.relpath]


async def test_a_second_ending_changes_nothing(db_target: Path | str) -> None:
    async with open_database(db_target) as db:
        job = await running_job(db)
        first = await end(db, succeeded(job, 30_000, "actual"))
        again = replace(succeeded(job, 40_000, "in_doubt"), state="unknown")
        assert await end(db, again) is None
        assert await store.get_job(db, job.id) == first
        assert [c.cost_micro_usd for c in await calls_for_job(db, job.id)] == [30_000]
        assert len(await store.files_of(db, job.id)) == 1


async def test_an_ending_from_a_state_the_job_is_not_in_writes_nothing(
    db_target: Path | str,
) -> None:
    async with open_database(db_target) as db:
        job = await running_job(db)  # running: a cancel expects it queued
        cancel = JobEnding(job.id, "cancelled", 0, 0, "actual", NOW, ("queued",),
                           calls=(row(job, 0),))  # fmt: skip
        assert await end(db, cancel) is None
        stored = await store.get_job(db, job.id)
        assert stored is not None
        assert (stored.state, stored.charged_micro_usd, stored.billing) == ("running", 40_000, None)
        assert await calls_for_job(db, job.id) == []


async def test_the_billing_is_the_least_known_of_every_row_of_the_job(
    db_target: Path | str,
) -> None:
    async with open_database(db_target) as db:
        job = await running_job(db)
        async with db.transaction() as conn:  # rows of calls settled while it ran
            await insert_api_call(conn, row(job, 20_000, "estimated"))
            await insert_api_call(conn, row(job, 20_000, "in_doubt"))
        done = await end(db, JobEnding(job.id, "succeeded", 40_000, 2, "in_doubt", NOW))
        assert done is not None and done.billing == "in_doubt"
