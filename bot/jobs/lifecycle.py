"""The job queue's life: recovery from the last run, the dispatch loop's start, a clean stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from bot.clock import Clock
from bot.db import Database
from bot.errors import RelaxedNotOfferedError
from bot.jobs.events import EventBus, JobEvent, JobSink
from bot.jobs.order.dispatcher import Dispatcher, wait_any
from bot.jobs.order.pacing import Pacer
from bot.jobs.order.queue import JobQueue
from bot.jobs.owners import LoneProcess, Owners
from bot.jobs.relaxed.lane import RelaxedLane
from bot.jobs.run.runner import JobRunner
from bot.jobs.service import JobService
from bot.jobs.settle.kept import kept_files
from bot.jobs.settle.settlement import Settlement
from bot.jobs.split import share
from bot.records import JobRecord
from bot.store import batches as batch_store, jobs as store
from bot.store.files import FileStore
from bot.store.ledger import calls_for_job, fast_requests_since
from bot.store.owners import job_processes

log = logging.getLogger(__name__)

# Results that no message has shown yet are announced again at start-up when they finished this
# recently; older ones stay available through /job.
REDELIVERY_WINDOW = timedelta(days=3)
# A clean stop fits the 75 s compose.yaml and the README give the container: in-flight calls get
# up to 55 s (a high-quality call takes up to about a minute), admissions and settlement writes
# 2 s each, deliveries what is left, and closing the gateway and the database a second or two.
STOP_GRACE_SECONDS = 55.0
SETTLE_GRACE_SECONDS = 2.0
DELIVERY_GRACE_SECONDS = 12.0
# The pacer's window (60 s) and its margin, with room for a row's latency and whole seconds.
PACING_LOOKBACK = 62.0


class QueueLifecycle:
    """Starts the dispatch loop after recovering the last run's jobs; stops it cleanly."""

    def __init__(
        self,
        *,
        db: Database,
        files: FileStore,
        clock: Clock,
        bus: EventBus,
        queue: JobQueue,
        settlement: Settlement,
        runner: JobRunner,
        dispatcher: Dispatcher,
        service: JobService,
        pacer: Pacer,
        relaxed: RelaxedLane | None = None,
        provider_title: str = "the image service",
        owners: Owners | None = None,
    ) -> None:
        self._db = db
        self._files = files
        self._clock = clock
        self._bus = bus
        self._queue = queue
        self._settlement = settlement
        self._runner = runner
        self._dispatcher = dispatcher
        self._service = service
        self._pacer = pacer
        self._relaxed = relaxed
        self._provider_title = provider_title  # for relaxed jobs it can no longer run
        self._owners = owners or LoneProcess()
        self._task: asyncio.Task[None] | None = None
        self._draining: asyncio.Task[None] | None = None  # a paused dispatcher's last calls

    def set_sink(self, sink: JobSink) -> None:
        """Where job events go from now on (the Discord layer attaches itself)."""
        self._bus.set_sink(sink)

    def observe(self, observer: Callable[[JobEvent], None]) -> None:
        """Also hand every job event to `observer` as it happens (bot/ops: metrics, job log)."""
        self._bus.observe(observer)

    @property
    def dispatcher_task(self) -> asyncio.Task[None] | None:
        """The running dispatch loop (for supervision; tests cancel it to simulate a crash)."""
        return self._task

    async def start(self) -> None:
        """Recover from the last run, then start dispatching.

        Running jobs are never sent again: those with stored images succeed with them, the
        others become unknown (they may have been billed: still charged, their members told);
        queued jobs resume in id order; results never shown (no mark_delivered) get their
        "succeeded" event again.
        """
        if self._task is not None and not self._task.done():
            return
        draining, self._draining = self._draining, None
        if draining is not None:  # the lease came back before the last calls ended
            await asyncio.wait({draining})
        self._runner.hold(False)
        live = await self._recover()
        await self._restore_pacing(live)
        if self._relaxed is not None:
            await self._relaxed.start()  # relaxed jobs: gathering resumes, open batches followed
        self._dispatcher.reopen()
        self._task = asyncio.get_running_loop().create_task(
            self._dispatcher.run(), name="job-dispatcher"
        )
        self._task.add_done_callback(_log_crash)

    @property
    def draining(self) -> bool:
        """Calls sent before a pause are still in flight (this process settles them)."""
        return self._draining is not None and not self._draining.done()

    def follow(self, following: bool) -> None:
        """Whether another process dispatches (bot/cluster/): this one's queue is then a silent
        mirror (no "position" events) and its relaxed jobs are gathered there."""
        self._bus.quiet_positions(following)
        self._service.follow(following)

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop dispatching; in-flight calls get `grace` seconds, then are cancelled (unknown).

        Every wait is bounded: admissions and settlement writes get SETTLE_GRACE_SECONDS each,
        deliveries up to DELIVERY_GRACE_SECONDS (no more than `grace`). Queued jobs keep their
        reservations and resume at the next start.
        """
        # A lone process's jobs send all their images within the grace, as ever; in a cluster
        # another process dispatches meanwhile, so nothing more goes from here.
        await self._close(hold=self._owners.process_id is not None)
        draining, self._draining = self._draining, None
        if draining is not None and not await wait_any(self._clock, [draining], grace):
            draining.cancel()  # in-flight calls past the grace: cancelled (unknown)
        if draining is not None:
            await asyncio.wait({draining})
        await self._bounded(self._service.admissions_done(), "admissions")
        await self._bounded(self._runner.settled(), "settlement writes")
        drain = asyncio.ensure_future(self._bus.drain())
        if not await wait_any(self._clock, [drain], min(grace, DELIVERY_GRACE_SECONDS)):
            self._bus.cancel_pending()
        await asyncio.wait({drain})

    async def pause(self) -> None:
        """Stop dispatching and the relaxed lane at once, the process going on (bot/cluster/:
        the lease was lost or is being let go). Nothing more is sent; the calls in flight go on
        and settle (and deliver) here: this process lives, so the next dispatcher leaves its
        running jobs to it (bot/cluster/liveness.py)."""
        await self._close(hold=True)

    async def _close(self, *, hold: bool) -> None:
        task, self._task = self._task, None
        self._runner.hold(hold)
        if self._relaxed is not None:
            await self._relaxed.stop()  # what it recorded resumes at the next start
        if task is not None:
            self._dispatcher.close()
            self._draining = task

    async def recover_orphans(self) -> None:
        """The dispatcher's sweep: running jobs whose process died since (bot/cluster/)."""
        await self._recover_running(unowned=False)

    async def _bounded(self, waiting: Coroutine[Any, Any, None], what: str) -> None:
        """Wait for `waiting` up to SETTLE_GRACE_SECONDS, then go on without it."""
        task = asyncio.ensure_future(waiting)
        if not await wait_any(self._clock, [task], SETTLE_GRACE_SECONDS):
            log.warning("stopping without waiting longer for %s", what)
            task.cancel()

    async def _restore_pacing(self, live: list[JobRecord]) -> None:
        """The last minute's requests (the interrupted ones included, as just settled) count
        against the account's limits again; so do the images live processes still have in
        flight, as sent now (their ledger rows come when they are answered)."""
        now = self._clock.now()
        since = now - timedelta(seconds=PACING_LOOKBACK)
        sent = await fast_requests_since(self._db, since)
        ages = [((now - r.sent_at).total_seconds(), r.images, r.tokens) for r in sent]
        ages = [age for age in ages if age[0] < PACING_LOOKBACK]
        for job in live:
            images = await self._in_flight_images(job)
            if images:
                ages.append((0.0, images, share(job.estimated_tokens, job.n, range(images))))
        self._pacer.restore(ages)

    async def _in_flight_images(self, job: JobRecord) -> int:
        """Images of a running job sent and not answered yet (at most all of them)."""
        answered = sum(call.n for call in await calls_for_job(self._db, job.id))
        unsent, _ = await store.unsent(self._db, job.id)
        return max(0, job.n - unsent - answered)

    async def _recover_running(self, *, unowned: bool = True) -> list[JobRecord]:
        """End the running jobs their processes left (dead; with `unowned`, at a start, also
        those of no recorded process: a lone process's last run); return those a live process
        still runs (its own to end)."""
        batched = await batch_store.batched_job_ids(self._db)  # the relaxed lane resumes these
        running = [j for j in await store.jobs_in_state(self._db, "running") if j.id not in batched]
        owners = await job_processes(self._db, [job.id for job in running])
        live: list[JobRecord] = []
        for job in running:
            owner = owners.get(job.id)
            if owner is None and not unowned:
                continue
            if owner is not None and await self._owners.alive(owner):
                live.append(job)
                continue
            log.warning("job %s was in flight when its process stopped; not sending it again",
                        job.id)  # fmt: skip
            await self._settlement.recover(job)
        return live

    async def _run_elsewhere(self, jobs: list[JobRecord]) -> set[int]:
        """Those of `jobs` whose process lives (it delivers them itself). No grace: a result
        posted twice is better than one never posted."""
        owners = await job_processes(self._db, [job.id for job in jobs])
        live = {o for o in set(owners.values()) if await self._owners.alive(o, grace=False)}
        return {i for i, owner in owners.items() if owner in live}

    async def _recover(self) -> list[JobRecord]:
        """Recover the last dispatcher's jobs; return the running ones a live process keeps."""
        # Read before the interrupted jobs are settled: those announce their own ending.
        since = self._clock.now() - REDELIVERY_WINDOW
        undelivered = await store.undelivered(self._db, since)
        untold = await store.untold(self._db, since)  # endings whose notice was never shown
        elsewhere = await self._run_elsewhere([*undelivered, *untold])
        batched = await batch_store.batched_job_ids(self._db)
        live = await self._recover_running()
        queued = await store.jobs_in_state(self._db, "queued")
        self._queue.restore(job for job in queued if job.speed == "fast")
        if self._relaxed is None:
            await self._end_stranded_relaxed(queued, batched)
        for job in (job for job in undelivered if job.id not in elsewhere):
            results = await kept_files(self._db, self._files, job.id, "result")
            self._bus.emit(JobEvent("succeeded", job, results=results))
        for job in (job for job in untold if job.id not in elsewhere):
            if job.state in ("failed", "unknown", "cancelled"):
                self._bus.emit(JobEvent(job.state, job))
        return live

    async def _end_stranded_relaxed(self, queued: list[JobRecord], batched: set[int]) -> None:
        """Relaxed jobs queued under a provider with batches, the bot now on one without: they
        can never run, so they end unsent (nothing charged, the reservation released, told)."""
        for job in queued:
            if job.speed == "relaxed" and job.id not in batched:
                log.warning("relaxed job %s cannot run without batches; ending it", job.id)
                error = RelaxedNotOfferedError(self._provider_title)
                await self._settlement.not_sent(job, error, queued=True)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.critical("the job dispatcher stopped", exc_info=exc)
