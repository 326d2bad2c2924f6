"""Settlement: how a job's reservation ends, as its real cost, an in-doubt charge, or released."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Literal

from bot.catalog.models import Catalog
from bot.clock import Clock
from bot.db import Database
from bot.errors import BotError
from bot.jobs.events import EventBus, JobEvent
from bot.jobs.settle.calls import api_call, status_and_code
from bot.jobs.settle.kept import kept_files
from bot.jobs.split import JobRun
from bot.records import JobRecord
from bot.store import jobs as store
from bot.store.files import FileStore
from bot.store.ledger import ApiCall, calls_for_job, insert_api_call

log = logging.getLogger(__name__)
Ending = Literal["succeeded", "failed", "unknown"]

IN_DOUBT_MESSAGE = (
    "the bot lost track of this request while the image service was working on it; it may "
    "have been billed, so it was not sent again and its estimated cost stays counted"
)
NOT_SENT = "the bot stopped before sending them"
# A succeeded job's code when the provider reported no `usage`: its cost is the estimate.
USAGE_ESTIMATED = "usage_estimated"
ESTIMATED_MESSAGE = (
    "the image service did not report its usage, so the job is charged at the most it can cost"
)


def partial_message(made: int, images: int, rest: str) -> str:
    return f"{made} of {images} images were made; the rest: {rest}"


class Settlement:
    """Every way a job ends, each in one transaction (the calls' own rows are CallSettlement's).

    A job with at least one stored image always ends "succeeded" with the images it has, so a
    paid image is never lost; "unknown" is for jobs with no image whose call may have been billed.
    """

    def __init__(
        self, *, db: Database, catalog: Catalog, files: FileStore, clock: Clock, bus: EventBus
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._files = files
        self._clock = clock
        self._bus = bus

    async def end(self, run: JobRun) -> None:
        """Nothing of the run is in flight any more: keep what it made and what may be billed."""
        charged, images = run.final_charge()
        job, error = run.job, run.error
        if run.made == run.images and run.estimated_calls:
            await self._finish(job, "succeeded", charged, images, error=None,
                               code=USAGE_ESTIMATED, message=ESTIMATED_MESSAGE)  # fmt: skip
        elif run.made == run.images:
            await self._finish(job, "succeeded", charged, images, error=None)
        elif run.made:
            rest = IN_DOUBT_MESSAGE if run.doubt_images else str(error or NOT_SENT)
            message = partial_message(run.made, run.images, rest)
            code = run.code or "incomplete"
            await self._finish(job, "succeeded", charged, images, error=error, code=code,
                               message=message)  # fmt: skip
        elif run.doubt_images:
            code = run.code or "interrupted"
            await self._finish(job, "unknown", charged, images, error=error, code=code,
                               message=IN_DOUBT_MESSAGE)  # fmt: skip
        else:
            error = error or BotError("the image service made no image")
            await self._finish(job, "failed", charged, images, error=error, code=run.code)

    async def not_sent(self, job: JobRecord, error: BotError) -> None:
        """A failure before any call went out: the reservation is released."""
        await self._finish(job, "failed", 0, 0, error=error)

    async def requeue(self, job: JobRecord, call: ApiCall | None = None) -> bool:
        """Back to queued with its reservation (a 429, or a stop before any call went out)."""
        async with self._db.transaction() as conn:
            if call is not None:
                await insert_api_call(conn, call)
            return await store.requeue(conn, job.id)

    async def recover(self, job: JobRecord) -> None:
        """At start-up, a job the last run left running: nothing of it is sent again.

        Its stored images are delivered ("succeeded"); the calls whose answers were lost keep
        their share of the reservation, carried by one "interrupted" ledger row. With no image
        stored it is "unknown", its whole remaining reservation charged.
        """
        made = len(await store.files_of(self._db, job.id, "result"))
        spent = sum(c.cost_micro_usd for c in await calls_for_job(self._db, job.id))
        if made == job.n:  # every answer was kept; only the final write was missing
            await self._finish(job, "succeeded", spent, job.charged_images, error=None)
            return
        doubt = max(0, job.charged_micro_usd - spent)
        call = api_call(job, n=job.n - made, price_version=self._catalog.version,
                        now=self._clock.now(), cost=doubt, error_code="interrupted",
                        billing="in_doubt")  # fmt: skip
        state: Ending = "succeeded" if made else "unknown"
        message = partial_message(made, job.n, IN_DOUBT_MESSAGE) if made else IN_DOUBT_MESSAGE
        await self._finish(job, state, spent + doubt, job.charged_images, error=None, call=call,
                           code="interrupted", message=message)  # fmt: skip

    async def _finish(
        self,
        job: JobRecord,
        state: Ending,
        charged_micro_usd: int,
        charged_images: int,
        *,
        error: BotError | None,
        call: ApiCall | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        if state != "succeeded":
            if error is not None and code is None:
                code = status_and_code(error)[1]
            if message is None and error is not None:
                message = str(error)
        now = self._clock.now()
        async with self._db.transaction() as conn:
            if call is not None:
                await insert_api_call(conn, call)
            ok = await store.finish(
                conn,
                job.id,
                state=state,
                charged_micro_usd=charged_micro_usd,
                charged_images=charged_images,
                now=now,
                error_code=code,
                error_message=message,
            )
        if not ok:
            log.error("job %s was no longer running when it ended as %s", job.id, state)
            return
        made = state == "succeeded"
        done = replace(
            job,
            state=state,
            charged_micro_usd=charged_micro_usd,
            charged_images=charged_images,
            finished_at=now,
            error_code=code,
            error_message=message,
        )
        results = await kept_files(self._db, self._files, job.id, "result") if made else ()
        self._bus.emit(JobEvent(state, done, error=error, results=results))
