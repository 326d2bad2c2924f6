"""ops_totals: the ledger by model and speed, queued jobs, batches, and budget left per guild."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.db import open_database
from bot.domain import ImageOptions, TokenUsage
from bot.guild_settings import DEFAULT_DAILY_MICRO_USD, DEFAULT_MONTHLY_MICRO_USD
from bot.store.jobs import NewJob, insert_job
from bot.store.ledger import ApiCall, insert_api_call
from bot.store.ops import BudgetLeft, ModelTotals, ops_totals

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
GUILD = 1001


def _call(model: str, cost: int, **kw: object) -> ApiCall:
    fields: dict[str, object] = {
        "guild_id": GUILD, "channel_id": 2, "user_id": 3, "job_id": None, "model": model,
        "operation": "generate", "n": 1, "size": "1024x1024", "quality": "low",
        "usage": TokenUsage(), "cost_micro_usd": cost, "price_version": "t", "latency_ms": 5,
        "created_at": NOW, "images": 1,
    }  # fmt: skip
    fields.update(kw)
    return ApiCall(**fields)  # type: ignore[arg-type]


async def test_totals_split_speeds_and_count_in_doubt_calls(db_target: Path | str) -> None:
    async with open_database(db_target) as db:
        async with db.transaction() as conn:
            await insert_api_call(conn, _call("gpt-image-2", 11_000))
            await insert_api_call(conn, _call("gpt-image-2", 20_000, billing="in_doubt", images=0))
            await insert_api_call(conn, _call("gpt-image-2", 5_000, speed="relaxed", images=2))
            await insert_api_call(
                conn, _call("gpt-image-1.5", 7_000, created_at=NOW - timedelta(days=40))
            )
        totals = await ops_totals(db, NOW)
    assert sorted(totals.models, key=lambda m: (m.model, m.speed)) == [
        ModelTotals("gpt-image-1.5", "fast", requests=1, images=1, micro_usd=7_000, in_doubt=0),
        ModelTotals("gpt-image-2", "fast", requests=2, images=1, micro_usd=31_000, in_doubt=1),
        ModelTotals("gpt-image-2", "relaxed", requests=1, images=2, micro_usd=5_000, in_doubt=0),
    ]


async def test_budget_left_counts_today_and_this_month_only(db_target: Path | str) -> None:
    day = int(NOW.timestamp()) // 86400
    async with open_database(db_target) as db:
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO guild_settings (guild_id, daily_micro_usd, monthly_micro_usd, "
                "updated_at) VALUES (?, 5000000, 50000000, 0), (2002, NULL, NULL, 0)",
                (GUILD,),
            )
            await conn.executemany(
                "INSERT INTO guild_day_use (guild_id, day, micro_usd, images) VALUES (?, ?, ?, 1)",
                [(GUILD, day, 1_250_000), (GUILD, day - 3, 2_000_000), (GUILD, day - 20, 9)],
            )
        totals = await ops_totals(db, NOW)
    assert totals.budgets == (
        BudgetLeft(GUILD, "day", 3_750_000),
        BudgetLeft(GUILD, "month", 50_000_000 - 3_250_000),
        # 2002 set no caps: the defaults (bot/guild_settings.py) apply, nothing spent yet.
        BudgetLeft(2002, "day", DEFAULT_DAILY_MICRO_USD),
        BudgetLeft(2002, "month", DEFAULT_MONTHLY_MICRO_USD),
    )
    assert totals.queued == {} and totals.batches == {}


async def test_budgets_cover_guilds_on_defaults_and_skip_unlimited_periods(
    tmp_path: Path,
) -> None:
    day = int(NOW.timestamp()) // 86400
    async with open_database(tmp_path / "bot.sqlite3") as db:
        async with db.transaction() as conn:
            # 3003 never touched /limits: only its jobs say it exists.
            await insert_job(conn, NewJob(
                guild_id=3003, channel_id=1, user_id=2, operation="generate", prompt="p",
                options=ImageOptions(model="gpt-image-2"), reserved_micro_usd=0,
                reserved_images=1, estimated_tokens=100, source_job_id=None, created_at=NOW,
            ))  # fmt: skip
            # 4004 lifted its daily cap (0: no limit) and kept a monthly one.
            await conn.execute(
                "INSERT INTO guild_settings (guild_id, daily_micro_usd, monthly_micro_usd, "
                "updated_at) VALUES (4004, 0, 20000000, 0)"
            )
            await conn.executemany(
                "INSERT INTO guild_day_use (guild_id, day, micro_usd, images) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (guild_id, day) DO UPDATE SET micro_usd = excluded.micro_usd",
                [(3003, day, 1_000_000), (4004, day, 7_000_000)],
            )
        totals = await ops_totals(db, NOW)
    assert totals.budgets == (
        BudgetLeft(3003, "day", DEFAULT_DAILY_MICRO_USD - 1_000_000),
        BudgetLeft(3003, "month", DEFAULT_MONTHLY_MICRO_USD - 1_000_000),
        BudgetLeft(4004, "month", 13_000_000),
    )
