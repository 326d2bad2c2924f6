"""The slash commands' last synced set, kept as its digest: a global sync only when it changed."""

from __future__ import annotations

from bot.db import Database
from bot.store import meta

SYNC_HASH_KEY = "global_commands_sha256"


async def synced_before(db: Database, digest: str) -> bool:
    """Whether the set with this SHA-256 digest is the one synced last."""
    return await meta.get(db, SYNC_HASH_KEY) == digest


async def record_synced(db: Database, digest: str) -> None:
    """The set with this digest was synced."""
    async with db.transaction() as conn:
        await meta.put(conn, SYNC_HASH_KEY, digest)
