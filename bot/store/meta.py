"""Key-value facts the bot keeps about itself, such as the last synced command set."""

from __future__ import annotations

from bot.db import Database


class MetaStore:
    """Reads and writes rows of the `meta` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str) -> str | None:
        row = await self._db.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    async def get_or_create(self, key: str, value: str) -> str:
        """The stored value, or `value` stored now; the first writer wins a race."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (key, value),
            )
        stored = await self.get(key)
        return value if stored is None else stored

    async def put(self, key: str, value: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
