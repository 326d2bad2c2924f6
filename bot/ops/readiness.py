"""Readiness: the gateway is connected, jobs are dispatched, the database and provider answer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.db import Database
from bot.ops.provider_watch import ProviderWatch

log = logging.getLogger(__name__)

DB_TIMEOUT = 2.0  # seconds; a database slower than this is not ready to take jobs
# Both waits together stay under the health check client's TIMEOUT (bot/ops/probe.py): a slow
# provider makes /readyz say "not ready" instead of the check timing out without an answer.
PROBE_TIMEOUT = 1.5
PROBE_EVERY = 30.0  # seconds between probes while the provider seems unreachable


@dataclass(frozen=True, slots=True)
class Verdict:
    """Ready, or the one-line reason why not."""

    ready: bool
    reason: str = ""


class Readiness:
    """Decides /readyz; probes the provider (at most every PROBE_EVERY s) when it went quiet."""

    def __init__(
        self,
        *,
        connected: Callable[[], bool],
        dispatching: Callable[[], bool],
        db: Database,
        watch: ProviderWatch,
        probe: Callable[[], Awaitable[object]],
    ) -> None:
        self._connected = connected
        self._dispatching = dispatching
        self._db = db
        self._watch = watch
        self._probe = probe
        self._last_probe = float("-inf")

    async def check(self) -> Verdict:
        if not self._connected():
            return Verdict(False, "discord gateway not connected")
        if not self._dispatching():
            return Verdict(False, "job dispatcher not running")
        if not await self._database_answers():
            return Verdict(False, "database not answering")
        if not await self._provider_reachable():
            return Verdict(False, "provider not reachable")
        return Verdict(True)

    async def _database_answers(self) -> bool:
        try:
            await asyncio.wait_for(self._db.fetchone("SELECT 1"), DB_TIMEOUT)
        except Exception as exc:  # any failure means "not ready"; say which in the log
            log.warning("readiness: the database did not answer: %s", type(exc).__name__)
            return False
        return True

    async def _provider_reachable(self) -> bool:
        if self._watch.reachable() is not False:
            return True
        now = time.monotonic()
        if now - self._last_probe >= PROBE_EVERY:
            self._last_probe = now
            try:  # the transport records the outcome in the watch
                await asyncio.wait_for(self._probe(), PROBE_TIMEOUT)
            except Exception:
                log.debug("readiness: provider probe failed", exc_info=True)
        return self._watch.reachable() is not False
