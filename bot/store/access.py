"""Operators' decisions on which guilds are served, and each guild's spend for /operator."""

from __future__ import annotations

from datetime import datetime

from bot.db import Reader, Transaction
from bot.store.jobs import DAY, ts


async def decisions(db: Reader) -> dict[int, bool]:
    """Every guild an operator allowed (True) or denied (False)."""
    rows = await db.fetchall("SELECT guild_id, allowed FROM served_guilds")
    return {row["guild_id"]: bool(row["allowed"]) for row in rows}


async def decide(conn: Transaction, guild_id: int, allowed: bool, by: int, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO served_guilds VALUES (?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE "
        "SET allowed = excluded.allowed, changed_by = excluded.changed_by, "
        "changed_at = excluded.changed_at",
        (guild_id, int(allowed), by, ts(now)),
    )


async def spend_since(db: Reader, month: datetime) -> dict[int, int]:
    """Micro-USD charged per guild to jobs created since `month` (a UTC midnight)."""
    rows = await db.fetchall(
        "SELECT guild_id, SUM(micro_usd) AS usd FROM guild_day_use WHERE day >= ? "
        "GROUP BY guild_id",
        (ts(month) // DAY,),
    )
    return {row["guild_id"]: row["usd"] for row in rows}
