"""The one way a job ends (fast, relaxed, cancelled, failed, in doubt, unknown), then told."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from bot.clock import Clock
from bot.db import Database
from bot.errors import BotError
from bot.jobs.events import EventBus, JobEvent
from bot.jobs.settle.calls import status_and_code
from bot.jobs.settle.kept import kept_files
from bot.records import Billing, JobRecord, JobState, NewFile
from bot.store.endings import EndState, JobEnding, end_job
from bot.store.files import FileStore
from bot.store.ledger import ApiCall

log = logging.getLogger(__name__)

_RANK: dict[Billing, int] = {"actual": 0, "estimated": 1, "in_doubt": 2}


def least_known(billings: Iterable[Billing]) -> Billing:
    """How a sum of costs is known: as well as its least known part ("actual" when empty)."""
    return max(billings, key=_RANK.__getitem__, default="actual")


class Endings:
    """Ends jobs through `end_job`, one transaction each, and emits the ending's event.

    An ending whose expected state no longer holds (the job started, or was ended already)
    changes nothing and emits nothing: settling twice never writes a second ledger row.
    """

    def __init__(self, *, db: Database, files: FileStore, clock: Clock, bus: EventBus) -> None:
        self._db = db
        self._files = files
        self._clock = clock
        self._bus = bus

    async def finish(
        self,
        job: JobRecord,
        state: EndState,
        charged: tuple[int, int],
        billing: Billing,
        *,
        error: BotError | None = None,
        code: str | None = None,
        message: str | None = None,
        calls: Sequence[ApiCall] = (),
        files: Sequence[NewFile] = (),
        expected: tuple[JobState, ...] = ("running",),
    ) -> JobRecord | None:
        """End `job` now as `state`, keeping `charged` (micro-USD, images); a job that did not
        succeed says why: `code` and `message`, by default from its error."""
        if state != "succeeded" and error is not None:
            code = code or status_and_code(error)[1]
            message = message or str(error)
        ending = JobEnding(job.id, state, *charged, billing, self._clock.now(), expected, code,
                           message, tuple(calls), tuple(files))  # fmt: skip
        return await self.end(ending, error)

    async def end(self, ending: JobEnding, error: BotError | None = None) -> JobRecord | None:
        """End the job as `ending` says; the ended record, or None when it was not ended."""
        async with self._db.transaction() as conn:
            done = await end_job(conn, ending)
        if done is None:
            log.info("job %s was not %s any more: not ended as %s",
                     ending.job_id, "/".join(ending.expected), ending.state)  # fmt: skip
            return None
        if done.billing != ending.billing:  # the ledger is the record members are shown
            log.error("job %s ended %s by its ledger rows but %s by its settlement",
                      done.id, done.billing, ending.billing)  # fmt: skip
        made = done.state == "succeeded"
        results = await kept_files(self._db, self._files, done.id, "result") if made else ()
        self._bus.emit(JobEvent(ending.state, done, error=error, results=results))
        return done
