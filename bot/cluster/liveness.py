"""A process's life as the others see it: a session advisory lock on a key of its own."""

from __future__ import annotations

import logging
import random

from bot.clock import Clock
from bot.db import Database, DriverError, SessionLock
from bot.db.locks import process_key

log = logging.getLogger(__name__)

PROCESS_ID_BITS = 31
_TRIES = 8  # a taken id (one in two billion per live process) is drawn again
# A process whose key is free counts as dead only when its key is still free this long after it
# was first found so: a restarted server frees every key at once, and each live process takes
# its own again at its next poll (bot/cluster/leader.py, every LEASE_POLL s). Ending a live
# process's running job as unknown would drop its answer, and the paid image with it.
DEATH_CONFIRM_S = 3.0


class Liveness:
    """Holds this process's key (bot/db/locks.py `process_key`) on a connection of its own for
    as long as the process lives; PostgreSQL frees it when the process dies (its socket closes):
    https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS

    The dispatcher ends as unknown only the running jobs of processes whose key it can take; a
    live process that lost the lease settles and delivers its own calls.
    """

    def __init__(self, db: Database, clock: Clock, rng: random.Random | None = None) -> None:
        self._db = db
        self._clock = clock
        self._rng = rng or random.SystemRandom()
        self._id: int | None = None
        self._lock: SessionLock | None = None
        self._free_since: dict[int, float] = {}  # process id -> when its key was found free

    @property
    def process_id(self) -> int | None:
        return self._id

    async def start(self) -> None:
        """Draw an id no live process holds and hold its key (nothing on SQLite)."""
        if self._db.dialect == "sqlite" or self._lock is not None:
            return
        for _ in range(_TRIES):
            candidate = self._rng.randrange(1, 2**PROCESS_ID_BITS)
            lock = await self._db.try_session_lock(process_key(candidate))
            if lock is not None:
                self._id, self._lock = candidate, lock
                return
        raise RuntimeError("no free process id")  # pragma: no cover - 8 draws of 2**31

    async def keep(self) -> None:
        """Take the key again if its connection dropped (a restarted server freed it)."""
        if self._lock is None or self._id is None or await self._lock.alive():
            return
        try:
            self._lock = await self._db.try_session_lock(process_key(self._id)) or self._lock
        except DriverError:
            return
        log.warning("this process's liveness lock was lost and is held again")

    async def alive(self, process_id: int, *, grace: bool = True) -> bool:
        """Whether that process lives: its key cannot be taken (taken and let go at once if it
        can), or, with `grace`, was free for less than DEATH_CONFIRM_S (the dispatcher's sweep,
        every few seconds, looks again). This process counts as alive whatever its connection
        says."""
        if process_id == self._id:
            return True
        lock = await self._db.try_session_lock(process_key(process_id))
        if lock is None:
            self._free_since.pop(process_id, None)
            return True
        await lock.release()
        now = self._clock.monotonic()
        free_for = now - self._free_since.setdefault(process_id, now)
        return grace and free_for < DEATH_CONFIRM_S

    async def stop(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            await lock.release()
