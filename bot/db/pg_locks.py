"""PostgreSQL's advisory locks (keys: bot/db/locks.py): a guild's transaction lock, and session
locks held on a connection of their own for as long as it lives."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import psycopg

from bot.db.locks import GUILD_BUDGET

# A held lock's check: a connection that has not answered `SELECT 1` by then counts as lost.
ALIVE_TIMEOUT_S = 5.0
TRY_LOCKS = "SELECT k FROM unnest(%s::bigint[]) AS k WHERE NOT pg_try_advisory_lock(k)"
SHARED_LOCKS = "SELECT pg_advisory_lock_shared(k) FROM unnest(%s::bigint[]) AS k"
# A bigint key shows in pg_locks as its high (classid) and low (objid) 32 bits, objsubid 1:
# https://www.postgresql.org/docs/15/view-pg-locks.html
# pg_locks shows the whole server's locks; advisory keys are per database (its `database`).
HOLDERS = (
    "SELECT k FROM (SELECT DISTINCT (classid::bigint << 32) | objid::bigint AS k FROM pg_locks"
    " WHERE locktype = 'advisory' AND objsubid = 1 AND granted AND database ="
    " (SELECT oid FROM pg_database WHERE datname = current_database())) AS held"
    " WHERE k >= ? AND k < ? ORDER BY k"
)


class PgSessionLock:
    """Session advisory locks and the connection that holds them (see bot.db.base.SessionLock):
    one key (`key`), or several (None: released all at once)."""

    __slots__ = ("_conn", "_key")

    def __init__(self, conn: psycopg.AsyncConnection[Any], key: int | None) -> None:
        self._conn = conn
        self._key = key

    async def alive(self) -> bool:
        if self._conn.closed:
            return False
        try:
            await asyncio.wait_for(self._conn.execute("SELECT 1"), ALIVE_TIMEOUT_S)
        except (psycopg.Error, TimeoutError, OSError):
            await self._conn.close()  # whatever the server thinks, this process lets go
            return False
        return True

    async def release(self) -> None:
        if not self._conn.closed:
            with contextlib.suppress(psycopg.Error, OSError):
                if self._key is None:
                    await self._conn.execute("SELECT pg_advisory_unlock_all()")
                else:
                    await self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
            await self._conn.close()


def guild_lock_sql(guild_id: int) -> str:
    """The statement that takes a guild's transaction-scoped advisory lock: released at COMMIT
    or ROLLBACK, whatever happens to the process.
    https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS

    The two-int form takes the guild id folded into 32 bits (two guilds that share a key only
    take turns, never overshoot); both are integers written by this function, never text.
    """
    key = (int(guild_id) ^ (int(guild_id) >> 32)) & 0x7FFFFFFF
    return f"SELECT pg_advisory_xact_lock({GUILD_BUDGET}, {key})"
