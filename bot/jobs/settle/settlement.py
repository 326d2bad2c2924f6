"""Fast settlement: how a fast job ends (its real cost, an in-doubt charge, or released)."""

from __future__ import annotations

from bot.catalog.models import Catalog
from bot.clock import Clock
from bot.db import Database
from bot.errors import BotError
from bot.jobs.settle.calls import api_call
from bot.jobs.settle.ending import Endings, least_known
from bot.jobs.split import JobRun
from bot.records import Billing, JobRecord, JobState
from bot.store import jobs as store
from bot.store.endings import EndState
from bot.store.ledger import calls_for_job

IN_DOUBT_MESSAGE = (
    "the bot lost track of this request while the image service was working on it; it may "
    "have been billed, so it was not sent again and its estimated cost stays counted"
)
NOT_SENT = "the bot stopped before sending them"
NOT_SENT_AT_ALL = "the bot stopped before sending this request, so nothing was charged"


def partial_message(made: int, images: int, rest: str) -> str:
    return f"{made} of {images} images were made; the rest: {rest}"


class Settlement:
    """Every way a fast job ends, each through `Endings` (the calls' own rows, and a requeue,
    are CallSettlement's).

    A job with at least one stored image always ends "succeeded" with the images it has, so a
    paid image is never lost; "unknown" is for jobs with no image whose call may have been billed.
    """

    def __init__(self, *, db: Database, catalog: Catalog, clock: Clock, endings: Endings) -> None:
        self._db = db
        self._catalog = catalog
        self._clock = clock
        self._endings = endings

    async def end(self, run: JobRun) -> None:
        """Nothing of the run is in flight any more: keep what it made and what may be billed."""
        charged, images = run.final_charge()
        job, error = run.job, run.error
        billing: Billing = "in_doubt" if run.doubt_images else "actual"
        if billing == "actual" and run.estimated_calls:
            billing = "estimated"
        if run.made == run.images:
            await self._endings.finish(job, "succeeded", (charged, images), billing)
        elif run.made:
            rest = IN_DOUBT_MESSAGE if run.doubt_images else str(error or NOT_SENT)
            message = partial_message(run.made, run.images, rest)
            code = run.code or "incomplete"
            await self._endings.finish(job, "succeeded", (charged, images), billing, error=error,
                                       code=code, message=message)  # fmt: skip
        elif run.doubt_images:
            code = run.code or "interrupted"
            await self._endings.finish(job, "unknown", (charged, images), billing, error=error,
                                       code=code, message=IN_DOUBT_MESSAGE)  # fmt: skip
        else:
            error = error or BotError("the image service made no image")
            await self._endings.finish(job, "failed", (charged, images), billing, error=error,
                                       code=run.code)  # fmt: skip

    async def not_sent(self, job: JobRecord, error: BotError, *, queued: bool = False) -> None:
        """A failure before any call went out: the reservation is released. `queued`: the job
        never left the queue (it could not run at all)."""
        expected: tuple[JobState, ...] = ("queued",) if queued else ("running",)
        await self._endings.finish(job, "failed", (0, 0), "actual", error=error, expected=expected)

    async def recover(self, job: JobRecord) -> None:
        """At start-up, a job the last run left running: nothing of it is sent again.

        Its stored images are delivered ("succeeded"); the calls whose answers were lost keep
        their share of the reservation, carried by one "interrupted" ledger row. With no image
        stored it is "unknown", its whole remaining reservation charged.
        """
        made = len(await store.files_of(self._db, job.id, "result"))
        calls = await calls_for_job(self._db, job.id)
        spent = sum(c.cost_micro_usd for c in calls)
        billing = least_known(c.billing for c in calls)
        # Slots never sent (a split job killed between its requests) owe nothing.
        unsent_images, unsent_usd = await store.unsent(self._db, job.id)
        images = job.charged_images - unsent_images
        if made == job.n - unsent_images:  # every answer sent for was kept
            await self._end_unsent(job, made, (spent, images), billing)
            return
        doubt = max(0, job.charged_micro_usd - spent - unsent_usd)
        call = api_call(job, n=job.n - made - unsent_images, price_version=self._catalog.version,
                        now=self._clock.now(), cost=doubt, error_code="interrupted",
                        billing="in_doubt")  # fmt: skip
        state: EndState = "succeeded" if made else "unknown"
        message = partial_message(made, job.n, IN_DOUBT_MESSAGE) if made else IN_DOUBT_MESSAGE
        await self._endings.finish(job, state, (spent + doubt, images), "in_doubt",
                                   code="interrupted", message=message, calls=(call,))  # fmt: skip

    async def _end_unsent(
        self, job: JobRecord, made: int, charged: tuple[int, int], billing: Billing
    ) -> None:
        """Recovery of a job whose every sent request was answered: the rest was never sent."""
        if made == job.n:
            await self._endings.finish(job, "succeeded", charged, billing)
            return
        message = partial_message(made, job.n, NOT_SENT) if made else NOT_SENT_AT_ALL
        await self._endings.finish(job, "succeeded" if made else "failed", charged, billing,
                                   code="interrupted", message=message)  # fmt: skip
