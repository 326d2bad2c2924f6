"""Following relaxed batches: each open batch's next step (submit, or poll with backoff), and
the settlement of its jobs from the output and error files once it ends.

Polls start `first_poll` seconds after the batch is submitted and each wait is `poll_factor` times
longer, up to `max_poll`. A failed submission is retried on the same schedule; once it may have
created the batch, the provider's list is searched for it first (bot/jobs/relaxed/submit.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bot.clock import Clock
from bot.db import Database
from bot.errors import (
    AuthenticationError,
    BillingLimitError,
    InvalidRequestError,
    ModelUnavailableError,
    UpstreamError,
)
from bot.jobs.backend import BatchApi
from bot.jobs.relaxed.settle import RelaxedSettlement, line_request
from bot.jobs.relaxed.submit import BatchSubmitter
from bot.provider.batch_wire import INPUT_FILE_MAX_BYTES, BatchInfo, iter_lines, line_outcome
from bot.records import JobRecord
from bot.store import batches as store
from bot.store.batches import BatchRow
from bot.store.jobs import jobs_by_ids

log = logging.getLogger(__name__)

# Errors after which sending the same batch again cannot work: its jobs are released.
DEFINITIVE = (InvalidRequestError, BillingLimitError, AuthenticationError, ModelUnavailableError)
QUEUE_FULL = "token_limit_exceeded"  # BatchInfo.errors are "code: message"
NOT_RUN_STATUS = {"expired": "expired", "cancelled": "cancelled", "cancelling": "cancelled"}


@dataclass(frozen=True, slots=True)
class RelaxedTiming:
    """Seconds on the injected clock, and the size caps of one batch (images, input bytes)."""

    window: float = 5.0  # a group waits this long after its first job for others to join
    max_batch_images: int = 40  # base64 images make big output files (docs/sources.md#batch-limits)
    first_poll: float = 2.0
    poll_factor: float = 1.5
    max_poll: float = 120.0  # a cheap GET; batches take minutes to hours
    max_attempts: int = 8  # failed submission attempts before a batch's jobs are released
    queue_full_retry: float = 600.0  # after the enqueued-token limit refused a batch
    max_input_bytes: int = INPUT_FILE_MAX_BYTES  # lines past it wait for the next batch


@dataclass
class Follow:
    """An open batch and when its next step is due."""

    row: BatchRow
    due: float
    interval: float
    maybe_created: bool = False
    attempts: int = 0


class BatchFollower:
    """Takes each open batch through its steps; `step` is one of them, run as its own task."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        client: BatchApi,
        submitter: BatchSubmitter,
        settlement: RelaxedSettlement,
        timing: RelaxedTiming,
        requeue: Callable[[list[JobRecord], float], None],
    ) -> None:
        self._db = db
        self._clock = clock
        self._client = client
        self._submitter = submitter
        self._settle = settlement
        self.timing = timing
        self._requeue = requeue  # jobs back to gathering, after a delay in seconds
        self.follows: dict[int, Follow] = {}
        self._busy: set[int] = set()

    def add(self, row: BatchRow, *, maybe_created: bool = False) -> None:
        """Follow a batch; its first step is due now."""
        now = self._clock.monotonic()
        self.follows[row.id] = Follow(row, now, self.timing.first_poll, maybe_created)

    def due(self, now: float) -> tuple[list[Follow], float | None]:
        """The batches whose step is due (now marked busy), and the next deadline after them."""
        ready: list[Follow] = []
        later: list[float] = []
        for follow in self.follows.values():
            if follow.row.id in self._busy:
                continue
            if follow.due <= now:
                self._busy.add(follow.row.id)
                ready.append(follow)
            else:
                later.append(follow.due)
        return ready, min(later, default=None)

    async def step(self, follow: Follow) -> None:
        """Submit a preparing batch, or poll a submitted one (settling it once it ended)."""
        try:
            try:
                if follow.row.state == "preparing":
                    await self._submit(follow)
                else:
                    await self._poll(follow)
            except UpstreamError as exc:
                await self._failed_step(follow, exc)  # may itself fail (the list lookup)
        except Exception:
            # A bug or a broken disk: try again later rather than spin; what was settled stays.
            log.exception("relaxed batch %s: step failed", follow.row.key)
            follow.maybe_created = follow.maybe_created or follow.row.state == "preparing"
            self._backoff(follow)
        finally:
            self._busy.discard(follow.row.id)

    async def _submit(self, follow: Follow) -> None:
        info = await self._submitter.submit(follow.row, maybe_created=follow.maybe_created)
        if info is None:
            await self._end(follow, "cancelled", None, None)
            return
        follow.row = replace(follow.row, state="submitted", openai_batch_id=info.id,
                             status=info.status)  # fmt: skip
        follow.attempts, follow.interval = 0, self.timing.first_poll
        follow.due = self._clock.monotonic() + follow.interval

    async def _poll(self, follow: Follow) -> None:
        assert follow.row.openai_batch_id is not None
        info = await self._client.retrieve(follow.row.openai_batch_id)
        if info.ended:
            await self._finish(follow, info)
            return
        if info.status != follow.row.status:
            async with self._db.transaction() as conn:
                await store.set_status(conn, follow.row.id, info.status)
            follow.row = replace(follow.row, status=info.status)
        self._backoff(follow)

    def _backoff(self, follow: Follow) -> None:
        follow.due = self._clock.monotonic() + follow.interval
        follow.interval = min(self.timing.max_poll, follow.interval * self.timing.poll_factor)

    async def _failed_step(self, follow: Follow, exc: UpstreamError) -> None:
        log.warning("relaxed batch %s: %s", follow.row.key, exc)
        if follow.row.state != "preparing":
            self._backoff(follow)  # a poll failed: the batch runs on regardless
            return
        follow.maybe_created = True  # the create may have gone through before the failure
        follow.attempts += 1
        if isinstance(exc, DEFINITIVE) or follow.attempts >= self.timing.max_attempts:
            await self._release_all(follow, str(exc))
            return
        self._backoff(follow)

    async def _release_all(self, follow: Follow, reason: str) -> None:
        if follow.maybe_created and await self._submitter.find(follow.row) is not None:
            self._backoff(follow)  # it exists after all: keep following it
            return
        for job in await self._running_members(follow.row):
            await self._settle.not_run(job, "failed", reason)
        await self._end(follow, "failed", None, None)

    async def _finish(self, follow: Follow, info: BatchInfo) -> None:
        """The batch ended: settle each job from its line, then close the batch."""
        lines: dict[str, dict[str, Any]] = {}
        for file_id in (info.output_file_id, info.error_file_id):
            if file_id:
                for line in iter_lines(await self._client.content(file_id)):
                    lines[line["custom_id"]] = line
        if info.status == "failed" and any(e.startswith(QUEUE_FULL) for e in info.errors):
            await self._give_back(follow, info)
            return
        members = {m.job_id: m.custom_id for m in await store.members(self._db, follow.row.id)}
        reason = "; ".join(info.errors) or None
        for job in await self._running_members(follow.row):
            found = lines.get(members[job.id])
            if found is not None:
                outcome = line_outcome(found, line_request(job))
                await self._settle.line(job, outcome, follow.row.created_at)
            elif info.status == "completed":
                await self._settle.lost(job)
            else:
                await self._settle.not_run(job, NOT_RUN_STATUS.get(info.status, "failed"), reason)
        await self._end(follow, info.status, info.output_file_id, info.error_file_id)
        log.info("batch %s (%s) ended %s", info.id, follow.row.key, info.status)

    async def _give_back(self, follow: Follow, info: BatchInfo) -> None:
        """The model's enqueued-token limit refused the batch (it ran nothing): its jobs wait
        and go again in a later batch (docs/sources.md#batch-limits)."""
        async with self._db.transaction() as conn:
            jobs = await store.give_back(conn, follow.row.id)
            await store.set_ended(conn, follow.row.id, status=info.status, output_file_id=None,
                                  error_file_id=None, now=self._clock.now())  # fmt: skip
        self.follows.pop(follow.row.id, None)
        log.warning("batch %s hit the enqueued-token limit; %d jobs wait %.0f s for another",
                    info.id, len(jobs), self.timing.queue_full_retry)  # fmt: skip
        self._requeue(jobs, self.timing.queue_full_retry)

    async def _running_members(self, row: BatchRow) -> list[JobRecord]:
        ids = [m.job_id for m in await store.members(self._db, row.id)]
        jobs = await jobs_by_ids(self._db, ids)
        return [jobs[i] for i in ids if i in jobs and jobs[i].state == "running"]

    async def _end(
        self, follow: Follow, status: str, output: str | None, errors: str | None
    ) -> None:
        async with self._db.transaction() as conn:
            await store.set_ended(conn, follow.row.id, status=status, output_file_id=output,
                                  error_file_id=errors, now=self._clock.now())  # fmt: skip
        self.follows.pop(follow.row.id, None)
