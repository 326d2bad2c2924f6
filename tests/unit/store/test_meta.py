"""The meta table's key-value reads and writes."""

from __future__ import annotations

from pathlib import Path

from bot.db import open_database
from bot.store import meta


async def test_a_key_reads_as_last_put_and_none_before(db_target: Path | str) -> None:
    async with open_database(db_target) as db:
        assert await meta.get(db, "global_commands_sha256") is None
        async with db.transaction() as conn:
            await meta.put(conn, "global_commands_sha256", "abc")
        assert await meta.get(db, "global_commands_sha256") == "abc"
        async with db.transaction() as conn:
            await meta.put(conn, "global_commands_sha256", "def")
            await meta.put(conn, "other", "1")
        assert await meta.get(db, "global_commands_sha256") == "def"
        assert await meta.get(db, "other") == "1"
