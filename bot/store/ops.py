"""Read-only totals for /metrics: the ledger by model and speed, queue, batches, budget left."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.clock import day_start, month_start
from bot.db import Reader
from bot.guild_settings import DEFAULT_DAILY_MICRO_USD, DEFAULT_MONTHLY_MICRO_USD
from bot.store.jobs import DAY, ts


@dataclass(frozen=True, slots=True)
class ModelTotals:
    """What the ledger holds for one model and speed since the database began."""

    model: str
    speed: str
    requests: int
    images: int
    micro_usd: int
    in_doubt: int


@dataclass(frozen=True, slots=True)
class BudgetLeft:
    """A guild's budget still unspent in a period ("day" or "month"), in micro-USD."""

    guild_id: int
    period: str
    micro_usd: int


@dataclass(frozen=True, slots=True)
class OpsTotals:
    """One scrape's worth of database-backed figures."""

    models: tuple[ModelTotals, ...]
    queued: dict[str, int]  # speed -> jobs waiting
    batches: dict[str, int]  # state -> batches
    budgets: tuple[BudgetLeft, ...]


# The daily rollup (kept by triggers, migrations/0004) holds every model's totals in a few rows;
# only relaxed rows are read from the ledger itself, to split the speeds.
_BY_MODEL = """
SELECT model, SUM(requests) AS requests, SUM(images) AS images,
       SUM(cost_micro_usd) AS micro_usd, SUM(in_doubt_requests) AS in_doubt
FROM api_calls_daily GROUP BY model
"""
_RELAXED_BY_MODEL = """
SELECT model, COUNT(*) AS requests, SUM(images) AS images, SUM(cost_micro_usd) AS micro_usd,
       SUM(CASE WHEN billing = 'in_doubt' THEN 1 ELSE 0 END) AS in_doubt
FROM api_calls WHERE speed = 'relaxed' GROUP BY model
"""
_QUEUED = "SELECT speed, COUNT(*) AS n FROM jobs WHERE state = 'queued' GROUP BY speed"
_BATCHES = "SELECT state, COUNT(*) AS n FROM batches GROUP BY state"
# Every guild that has jobs or settings; a NULL cap is the default (bot/guild_settings.py).
_BUDGETS = """
SELECT g.guild_id,
       COALESCE(s.daily_micro_usd, :default_day) AS daily_micro_usd,
       COALESCE(s.monthly_micro_usd, :default_month) AS monthly_micro_usd,
       (SELECT COALESCE(SUM(micro_usd), 0) FROM guild_day_use u
        WHERE u.guild_id = g.guild_id AND u.day = :day) AS day_used,
       (SELECT COALESCE(SUM(micro_usd), 0) FROM guild_day_use u
        WHERE u.guild_id = g.guild_id AND u.day >= :month) AS month_used
FROM (SELECT guild_id FROM guild_settings UNION SELECT DISTINCT guild_id FROM jobs) g
LEFT JOIN guild_settings s ON s.guild_id = g.guild_id
ORDER BY g.guild_id
"""


async def ops_totals(db: Reader, now: datetime) -> OpsTotals:
    """The figures /metrics reports from the database, as of `now` (UTC days and months)."""
    return OpsTotals(
        models=await _models(db),
        queued={r["speed"]: r["n"] for r in await db.fetchall(_QUEUED)},
        batches={r["state"]: r["n"] for r in await db.fetchall(_BATCHES)},
        budgets=await _budgets(db, now),
    )


async def _models(db: Reader) -> tuple[ModelTotals, ...]:
    relaxed = {r["model"]: r for r in await db.fetchall(_RELAXED_BY_MODEL)}
    found: list[ModelTotals] = []
    for row in await db.fetchall(_BY_MODEL):
        slow = relaxed.get(row["model"])
        parts = ("requests", "images", "micro_usd", "in_doubt")
        fast = {k: int(row[k] or 0) - int((slow[k] if slow else 0) or 0) for k in parts}
        found.append(ModelTotals(row["model"], "fast", **fast))
        if slow is not None:
            found.append(
                ModelTotals(row["model"], "relaxed", **{k: int(slow[k] or 0) for k in parts})
            )
    return tuple(found)


async def _budgets(db: Reader, now: datetime) -> tuple[BudgetLeft, ...]:
    params = {
        "day": ts(day_start(now)) // DAY,
        "month": ts(month_start(now)) // DAY,
        "default_day": DEFAULT_DAILY_MICRO_USD,
        "default_month": DEFAULT_MONTHLY_MICRO_USD,
    }
    left: list[BudgetLeft] = []
    for row in await db.fetchall(_BUDGETS, params):
        for period, cap, used in (
            ("day", row["daily_micro_usd"], row["day_used"]),
            ("month", row["monthly_micro_usd"], row["month_used"]),
        ):
            if cap > 0:  # 0 is "no limit": nothing is left or spent against it
                left.append(BudgetLeft(row["guild_id"], period, cap - used))
    return tuple(left)
