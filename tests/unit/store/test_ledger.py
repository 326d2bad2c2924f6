"""Ledger rows: an insert returns its row's id, and a job's rows read back as written."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.db import open_database
from bot.domain import TokenUsage
from bot.store.ledger import ApiCall, calls_for_job, insert_api_call

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
CALL = ApiCall(
    guild_id=1, channel_id=2, user_id=3, job_id=None, model="gpt-image-1", operation="generate",
    n=1, size="1024x1024", quality="low", usage=TokenUsage(text_input=10, image_output=272),
    cost_micro_usd=11_000, price_version="v1", latency_ms=900, created_at=NOW, images=1,
)  # fmt: skip


async def test_each_insert_returns_its_own_rows_id(db_target: Path | str) -> None:
    async with open_database(db_target) as db:
        async with db.transaction() as conn:
            first = await insert_api_call(conn, CALL)
            second = await insert_api_call(conn, replace(CALL, cost_micro_usd=12_000))
        assert second == first + 1
        rows = await db.fetchall("SELECT id, cost_micro_usd FROM api_calls ORDER BY id")
        assert [tuple(r) for r in rows] == [(first, 11_000), (second, 12_000)]


async def test_a_rolled_back_insert_leaves_no_row(db_target: Path | str) -> None:
    async with open_database(db_target) as db:
        with pytest.raises(LookupError):
            async with db.transaction() as conn:
                await insert_api_call(conn, CALL)
                raise LookupError("the job's state did not change")
        assert await db.fetchall("SELECT * FROM api_calls") == []
        assert await calls_for_job(db, 1) == []
