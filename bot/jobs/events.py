"""Job lifecycle events, the sink protocol the Discord layer implements, and their delivery."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from bot.domain import PartialImage
from bot.errors import BotError
from bot.records import JobRecord, StoredFile

log = logging.getLogger(__name__)

EventKind = Literal[
    "queued", "position", "started", "partial", "succeeded", "failed", "cancelled", "unknown"
]
# Which of the account's per-minute limits holds the next job back (the member's status says
# so).
PaceReason = Literal["images", "tokens"]


@dataclass(frozen=True, slots=True)
class Pacing:
    """Why the job next in line waits, and about how many seconds more."""

    reason: PaceReason
    seconds: float


@dataclass(frozen=True, slots=True)
class JobEvent:
    """Something happened to a job; `job` is its record as of this event.

    A "succeeded" event carries the job's kept results (`results`, in order, with their bytes),
    so delivery posts them without asking the core again.
    """

    kind: EventKind
    job: JobRecord
    position: int | None = None
    partial: PartialImage | None = None
    error: BotError | None = None
    results: tuple[StoredFile, ...] = ()
    pacing: Pacing | None = None  # a "position" event of the job next in line held back


class JobSink(Protocol):
    """Receives every job's events (the Discord layer: replies, previews, deliveries)."""

    async def on_event(self, event: JobEvent) -> None: ...


class NullSink:
    """Drops events; the sink until the Discord layer attaches itself."""

    async def on_event(self, event: JobEvent) -> None:
        return None


class EventBus:
    """Delivers events as their own tasks, so a slow or failing sink never holds up dispatch.

    Events of one job are delivered in order (each waits for the job's previous one); events of
    different jobs are delivered concurrently. The sink is read at delivery time, so events
    emitted before `set_sink` reach the sink attached by then.
    """

    def __init__(self, sink: JobSink | None = None) -> None:
        self._sink: JobSink = sink or NullSink()
        self._tasks: set[asyncio.Task[None]] = set()
        self._tails: dict[int, asyncio.Task[None]] = {}
        self._observers: list[Callable[[JobEvent], None]] = []
        self._quiet = False  # "position" events dropped (a process that does not dispatch)

    def observe(self, observer: Callable[[JobEvent], None]) -> None:
        """Also hand every event to `observer` as it is emitted (metrics, the job log); it must
        be quick and not block: it runs inside `emit`."""
        self._observers.append(observer)

    def set_sink(self, sink: JobSink) -> None:
        self._sink = sink

    def quiet_positions(self, quiet: bool) -> None:
        """Drop "position" events from now on (or no longer): with several processes only the
        dispatcher's queue tells members their places (bot/cluster/)."""
        self._quiet = quiet

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def emit(self, event: JobEvent) -> None:
        if self._quiet and event.kind == "position":
            return
        for observer in self._observers:
            try:
                observer(event)
            except Exception:
                log.exception("job observer failed on %s event of job %s", event.kind, event.job.id)
        job_id = event.job.id
        previous = self._tails.get(job_id)
        task = asyncio.get_running_loop().create_task(
            self._deliver(previous, event), name=f"job-{job_id}-{event.kind}"
        )
        self._tails[job_id] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._forget(job_id, done))

    async def drain(self) -> None:
        """Wait until every event emitted so far (and any they lead to) has been delivered."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def cancel_pending(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _deliver(self, previous: asyncio.Task[None] | None, event: JobEvent) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait({previous})
        try:
            await self._sink.on_event(event)
        except Exception:
            log.exception("job sink failed on %s event of job %s", event.kind, event.job.id)

    def _forget(self, job_id: int, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._tails.get(job_id) is task:
            del self._tails[job_id]
