"""Leadership: every process looks at the dispatcher lease each second; its holder dispatches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from bot.clock import Clock
from bot.cluster.lease import Lease
from bot.cluster.liveness import Liveness

log = logging.getLogger(__name__)

# How often a follower tries the lease and its holder checks it: a dead holder's work is taken
# over within this plus the time recovery takes.
LEASE_POLL = 1.0


class Duties(Protocol):
    """What a process does in its role (bot/cluster/duties.py)."""

    def mode(self, dispatching: bool) -> None:
        """Dispatcher or follower from now on (what the queue tells, who gathers)."""

    async def open(self) -> None:
        """Start what every process runs, whatever its role (the queue's mirror)."""

    async def lead(self) -> None:
        """Start what only the dispatcher runs, after recovering what the last one left."""

    async def pause(self) -> None:
        """Stop what only the dispatcher runs; the process goes on as a follower."""

    async def stop(self) -> None:
        """Stop everything (the process ends)."""

    def running(self) -> bool:
        """Whether the dispatcher side runs (or has nothing to run, as a follower)."""

    def draining(self) -> bool:
        """Whether calls sent while it last dispatched are still in flight."""


class Leadership:
    """Runs in every process: takes the lease when it is free and dispatches while it holds it.

    Gaining it starts the dispatcher side (recovery, dispatch, the relaxed lane, retention);
    losing it while alive (its connection dropped) stops dispatching at once: in-flight calls
    settle through their conditional endings, harmless if the new holder ended them first.
    """

    def __init__(
        self,
        *,
        lease: Lease,
        duties: Duties,
        clock: Clock,
        on_change: Callable[[bool], None] | None = None,  # e.g. the imagebot_dispatcher gauge
        poll: float = LEASE_POLL,
        liveness: Liveness | None = None,  # this process's own key (cluster mode)
    ) -> None:
        self._lease = lease
        self._duties = duties
        self._clock = clock
        self._on_change = on_change or (lambda dispatching: None)
        self._poll = poll
        self._liveness = liveness
        self._dispatching = False
        self._task: asyncio.Task[None] | None = None

    @property
    def dispatching(self) -> bool:
        return self._dispatching

    def healthy(self) -> bool:
        """Ready to serve: the lease is looked at, and the dispatcher runs where it should."""
        looking = self._lease.lasting or (self._task is not None and not self._task.done())
        return looking and (not self._dispatching or self._duties.running())

    async def join(self) -> None:
        """Hold this process's liveness key (its own connection; nothing on SQLite): the
        composition root does it at start-up, where a refused connection is one line."""
        if self._liveness is not None:
            await self._liveness.start()

    async def start(self) -> None:
        """Look once now (a lone process dispatches from its start), then every `poll` s."""
        self._on_change(False)
        await self.join()  # before any job is marked running with its id (once: idempotent)
        if not self._lease.lasting:
            self._duties.mode(dispatching=False)
            await self._duties.open()
        await self._look()
        if not self._lease.lasting:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="leadership")

    async def stop(self) -> None:
        """Stop looking and taking jobs, free the lease (another process dispatches within a
        poll), then let the calls in flight settle and deliver here; this process counts as
        alive until they have (bot/cluster/liveness.py), so nobody else ends its jobs."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._dispatching and not self._lease.lasting:
            await self._duties.pause()
            await self._lease.release()
            self._dispatching = False
            self._on_change(False)
            log.info("stopping: the dispatcher lease is free; finishing the calls in flight")
        await self._duties.stop()
        await self._lease.release()
        if self._liveness is not None:
            await self._liveness.stop()
        if self._dispatching:
            self._dispatching = False
            self._on_change(False)

    async def _run(self) -> None:
        while True:
            await self._clock.sleep(self._poll)
            try:
                await self._look()
            except Exception:
                log.exception("taking up the dispatcher's duties failed; letting the lease go")
                await self._change(False)
                await self._lease.release()

    async def _look(self) -> None:
        if self._liveness is not None:
            await self._liveness.keep()
        if not self._dispatching and self._duties.draining():
            return  # its last calls first: taking the lease now would stall dispatching on them
        held = await self._lease.check()
        if held != self._dispatching:
            await self._change(held)

    async def _change(self, dispatching: bool) -> None:
        if dispatching == self._dispatching:
            return
        self._dispatching = dispatching
        self._on_change(dispatching)
        self._duties.mode(dispatching=dispatching)
        if dispatching:
            if not self._lease.lasting:  # a lone SQLite process says nothing new here
                log.info("this process holds the dispatcher lease: dispatching")
            await self._duties.lead()
        else:
            log.warning("this process no longer holds the dispatcher lease: dispatching stopped")
            await self._duties.pause()
