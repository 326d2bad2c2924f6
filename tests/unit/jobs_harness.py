"""Job queue test support: a JobService on a real SQLite file, a manual clock, a fake API."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.catalog.models import Catalog, load_catalog
from bot.clock import ManualClock
from bot.db import Database, open_database
from bot.domain import Choices, InputImage
from bot.guilds.service import GuildSettingsService
from bot.jobs.events import JobEvent
from bot.jobs.lifecycle import QueueLifecycle
from bot.jobs.models import Submission
from bot.jobs.owners import Owners
from bot.jobs.relaxed.lane import RelaxedLane
from bot.jobs.service import JobService
from bot.jobs.settle.database_files import DatabaseFileStore
from bot.jobs.settle.retention import Retention
from bot.jobs.wiring import JobQueueParts, QueueSettings, build_job_queue
from bot.records import JobRecord
from bot.store import jobs as store
from bot.store.disk_files import DiskFileStore
from bot.store.ledger import ApiCall, calls_for_job
from tests.fakes.batch_backend import FakeBatchesClient
from tests.fakes.image_backend import FakeImageBackend, tiny_png

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
Predicate = Callable[[], bool | Awaitable[bool]]


@functools.cache
def catalog() -> Catalog:
    return load_catalog()


def input_image(width: int = 4, height: int = 4) -> InputImage:
    return InputImage(tiny_png(7), "image/png", width, height)


CHOICE_FIELDS = frozenset(f.name for f in dataclasses.fields(Choices))


def submission(
    guild_id: int = 1, user_id: int = 10, prompt: str = "a red fox", **kw: Any
) -> Submission:
    """A Submission; keyword arguments named like a field of Choices go into its choices."""
    fields: dict[str, Any] = {"channel_id": 100 + guild_id, "role_ids": (), "operation": "generate"}
    fields.update({k: v for k, v in kw.items() if k not in CHOICE_FIELDS})
    choices = Choices(prompt=prompt, **{k: v for k, v in kw.items() if k in CHOICE_FIELDS})
    return Submission(guild_id=guild_id, user_id=user_id, choices=choices, **fields)


class TrackedFileStore(DiskFileStore):
    """Knows when file operations are in flight on worker threads, so tests can wait for them."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.gate: asyncio.Event | None = None  # when set, reads wait for it (a slow disk)
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def idle(self) -> None:
        await self._idle.wait()

    @asynccontextmanager
    async def _busy(self) -> AsyncIterator[None]:
        self._pending += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._pending -= 1
            if not self._pending:
                self._idle.set()

    async def write(self, relpath: str, data: bytes) -> None:
        async with self._busy():
            await super().write(relpath, data)

    async def read(self, relpath: str) -> bytes:
        if self.gate is not None:
            await self.gate.wait()
        async with self._busy():
            return await super().read(relpath)

    async def read_kept(self, relpaths: Sequence[str]) -> dict[str, bytes]:
        async with self._busy():
            return await super().read_kept(relpaths)

    async def delete(self, relpaths: Iterable[str]) -> int:
        async with self._busy():
            return await super().delete(relpaths)


class RecordingSink:
    """Remembers every event, in delivery order; like the Discord layer, it records an ending
    without a result as shown once it has it (JobService.mark_told)."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []
        self.service: JobService | None = None

    async def on_event(self, event: JobEvent) -> None:
        self.events.append(event)
        if event.kind in ("failed", "unknown", "cancelled") and self.service is not None:
            await self.service.mark_told(event.job.id)

    def kinds(self, job_id: int) -> list[str]:
        return [e.kind for e in self.events if e.job.id == job_id]

    def of(self, kind: str) -> list[JobEvent]:
        return [e for e in self.events if e.kind == kind]


@dataclass
class Harness:
    db: Database
    clock: ManualClock
    backend: FakeImageBackend
    sink: RecordingSink
    service: JobService
    files: TrackedFileStore
    guilds: GuildSettingsService
    catalog: Catalog
    db_path: Path
    lifecycle: QueueLifecycle
    retention: Retention
    batches: FakeBatchesClient | None = None  # the in-process fake Batch API
    relaxed: RelaxedLane | None = None
    # With files_in_database: the FileStore the queue was built with (`files` is then unused).
    blobs: DatabaseFileStore | None = None
    parts: JobQueueParts | None = None  # everything build_job_queue built (bot/cluster wires it)

    async def quiesce(self, rounds: int = 6) -> None:
        """Let every runnable task run, including work waiting on the database thread."""
        for _ in range(rounds):
            for _ in range(25):
                await asyncio.sleep(0)
            await self.files.idle()  # file I/O runs on worker threads
            # Each is one trip to the database thread, queued behind any statement in progress;
            # a task running several statements in a row needs a trip for each.
            for _ in range(3):
                await self.db.fetchone("SELECT 1")

    async def run_until(self, predicate: Predicate, *, max_seconds: float = 24 * 3600) -> None:
        """Advance the manual clock from deadline to deadline until the predicate holds."""
        limit = self.clock.monotonic() + max_seconds
        stalls = 0
        while True:
            await self.quiesce()
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            deadline = self.clock.next_deadline
            if deadline is None:
                stalls += 1
                assert stalls < 100, "stalled: nothing is sleeping and the condition is false"
                await asyncio.sleep(0.001)  # give the database thread a moment; real I/O
                continue
            stalls = 0
            assert deadline <= limit, "the condition did not hold in time"
            await self.advance(deadline)

    async def run_for(self, seconds: float) -> None:
        """Let `seconds` of clock time pass, waking every sleeper on its way."""
        until = self.clock.monotonic() + seconds
        while self.clock.monotonic() < until:
            await self.quiesce()
            deadline = self.clock.next_deadline
            await self.advance(until if deadline is None else min(deadline, until))
        await self.quiesce()

    async def advance(self, until: float) -> None:
        """Move the clock to `until`, or to an earlier deadline that appeared meanwhile.

        Tasks created and not started yet (a job's request, say) first take their first step, so
        that they see the time at which they were created, as they would on a real clock.
        """
        for _ in range(1000):
            if not any(_unstarted(task) for task in asyncio.all_tasks()):
                break
            await asyncio.sleep(0)
        deadline = self.clock.next_deadline
        target = until if deadline is None else min(until, deadline)
        self.clock.advance(target - self.clock.monotonic())

    async def run_all(self, *, max_seconds: float = 24 * 3600) -> None:
        """Run until no job is queued or running, then deliver the remaining events."""

        async def idle() -> bool:
            row = await self.db.fetchone(
                "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
            )
            return row is not None and row[0] == 0

        await self.run_until(idle, max_seconds=max_seconds)
        await self.drain()

    async def drain(self) -> None:
        await self.quiesce()
        await self.service._bus.drain()

    async def job(self, job_id: int) -> JobRecord:
        found = await store.get_job(self.db, job_id)
        assert found is not None
        return found

    async def jobs(self) -> list[JobRecord]:
        rows = await self.db.fetchall("SELECT * FROM jobs ORDER BY id")
        return [store.row_to_job(row) for row in rows]

    async def ledger(self, job_id: int) -> list[ApiCall]:
        return await calls_for_job(self.db, job_id)


def _unstarted(task: asyncio.Task[Any]) -> bool:
    coro = task.get_coro()
    return inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED


@asynccontextmanager
async def harness(
    tmp_path: Path,
    *,
    clock: ManualClock | None = None,
    start: bool = True,
    ipm: int = 60,
    tpm: int = 10**8,
    latency: float = 5.0,
    backend: FakeImageBackend | None = None,
    db_name: str = "bot.sqlite3",
    database: Path | str | None = None,
    files_in_database: bool = False,
    **service_options: Any,
) -> AsyncIterator[Harness]:
    """The job queue on a manual clock; `database` (a db_target) overrides the SQLite file;
    `files_in_database` keeps the files in it, as with DATABASE_URL set (bot/app.py)."""
    clock = clock or ManualClock(START)
    backend = backend or FakeImageBackend(clock, latency=latency, ipm=ipm, tpm=tpm)
    async with open_database(database or tmp_path / db_name) as db:
        blobs = DatabaseFileStore(db, clock) if files_in_database else None
        h = make_harness(
            db, clock, backend, tmp_path, ipm=ipm, tpm=tpm, blobs=blobs, **service_options
        )
        h.db_path = tmp_path / db_name
        if start:
            await h.lifecycle.start()
        try:
            yield h
        finally:
            await h.lifecycle.stop(grace=0)


def make_harness(
    db: Database,
    clock: ManualClock,
    backend: FakeImageBackend,
    tmp_path: Path,
    *,
    ipm: int,
    tpm: int,
    blobs: DatabaseFileStore | None = None,
    owners: Owners | None = None,
    **service_options: Any,
) -> Harness:
    files = TrackedFileStore(tmp_path / "data")
    guilds = GuildSettingsService(db, clock, catalog())
    sink = RecordingSink()
    service_options.setdefault("default_model", "gpt-image-1")
    batches = service_options.pop("batches", None) or FakeBatchesClient(clock)
    parts = build_job_queue(
        QueueSettings(ipm=ipm, tpm=tpm, **service_options),
        db=db,
        catalog=catalog(),
        backend=backend,
        files=blobs or files,
        clock=clock,
        sink=sink,
        batches=batches,
        owners=owners,
    )
    sink.service = parts.service
    return Harness(
        db, clock, backend, sink, parts.service, files, guilds, catalog(), tmp_path,
        parts.lifecycle, parts.retention, batches, parts.relaxed, blobs, parts,
    )  # fmt: skip
