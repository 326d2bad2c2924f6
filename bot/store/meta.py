"""Key-value facts the bot keeps about itself, such as the last synced command set."""

from __future__ import annotations

from bot.db import Reader, Transaction


async def get(db: Reader, key: str) -> str | None:
    row = await db.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
    return None if row is None else str(row["value"])


async def put(conn: Transaction, key: str, value: str) -> None:
    await conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


async def get_or_create(conn: Transaction, key: str, value: str) -> str:
    """The stored value, or `value` stored now (inside the caller's transaction)."""
    await conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, value)
    )
    stored = await get(conn, key)
    return value if stored is None else stored
