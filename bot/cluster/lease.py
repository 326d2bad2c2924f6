"""The dispatcher lease: a session advisory lock on a connection of its own (bot/db/locks.py)."""

from __future__ import annotations

import logging

from bot.db import Database, DriverError, SessionLock
from bot.db.locks import DISPATCHER_LEASE

log = logging.getLogger(__name__)


class Lease:
    """Held by at most one process of all those on one database; see `check`.

    PostgreSQL frees a session lock when its connection ends, so a process killed outright loses
    it as soon as the server notices the closed socket, and another takes it at its next try:
    https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS
    """

    def __init__(self, db: Database, key: int = DISPATCHER_LEASE) -> None:
        self._db = db
        self._key = key
        self._lock: SessionLock | None = None
        self._unreachable = False  # said once per outage, not once a second

    @property
    def lasting(self) -> bool:
        """Held for good once taken: SQLite's one process has nobody to hand it to."""
        return self._db.dialect == "sqlite"

    @property
    def held(self) -> bool:
        return self._lock is not None

    async def check(self) -> bool:
        """Whether this process holds the lease after one look: the holder asks its connection
        whether it still answers, any other process tries to take the lock (never waiting)."""
        if self._lock is not None:
            if await self._lock.alive():
                return True
            self._lock = None
            return False
        try:
            self._lock = await self._db.try_session_lock(self._key)
        except DriverError as exc:
            if not self._unreachable:
                log.warning("cannot try the dispatcher lease: %s", type(exc).__name__)
                self._unreachable = True
            return False
        self._unreachable = False
        return self._lock is not None

    async def release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            await lock.release()
