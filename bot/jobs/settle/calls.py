"""Each API call of a job settled as it ends: its ledger row, its images, the running charge."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import TypedDict, Unpack

from bot.catalog.models import Catalog
from bot.catalog.pricing import cost_of
from bot.clock import Clock
from bot.db import Database, Transaction
from bot.domain import ImagesResult, TokenUsage
from bot.errors import (
    AccountProblemError,
    BotError,
    PromptRejectedError,
    ResultUnfetchedError,
    UpstreamError,
)
from bot.jobs.backend import FailedAttemptLike
from bot.jobs.settle.overruns import Overruns
from bot.jobs.split import Chunk, JobRun
from bot.provider.account import AccountAlarm
from bot.records import JobRecord, NewFile
from bot.store import jobs as store
from bot.store.endings import lock_guild_of_job, set_running_charge
from bot.store.files import FileStore
from bot.store.ledger import ApiCall, Billing, insert_api_call

log = logging.getLogger(__name__)


def status_and_code(error: BotError) -> tuple[int | None, str]:
    if isinstance(error, PromptRejectedError):
        return 400, "moderation_blocked"
    if isinstance(error, UpstreamError):
        return error.status, error.code or type(error).__name__
    return None, type(error).__name__


class CallOutcome(TypedDict, total=False):
    """How one call ended: its result, or its error and status; all optional."""

    result: ImagesResult | None
    cost: int
    http_status: int | None
    error_code: str | None
    request_id: str | None
    latency_ms: int
    error: BotError | None
    billing: Billing


def api_call(
    job: JobRecord, *, n: int, price_version: str, now: datetime, **outcome: Unpack[CallOutcome]
) -> ApiCall:
    """The ledger row of one call of `job` that asked for `n` images."""
    opts = job.options
    result = outcome.get("result")
    error = outcome.get("error")
    request_id = outcome.get("request_id")
    if isinstance(error, UpstreamError | PromptRejectedError):
        request_id = request_id or error.request_id
    return ApiCall(
        guild_id=job.guild_id,
        channel_id=job.channel_id,
        user_id=job.user_id,
        job_id=job.id,
        model=opts.model,
        operation=job.operation,
        n=n,
        size=result.size if result else opts.size,
        quality=result.quality if result else opts.quality,
        usage=result.usage if result else TokenUsage(),
        cost_micro_usd=outcome.get("cost", 0),
        price_version=price_version,
        latency_ms=result.latency_ms if result else outcome.get("latency_ms", 0),
        created_at=now,
        images=len(result.images) if result else 0,
        partial_images=result.partial_images if result else 0,
        request_id=result.request_id if result else request_id,
        http_status=result.http_status if result else outcome.get("http_status"),
        error_code=outcome.get("error_code"),
        billing=outcome.get("billing", "actual"),
    )


class CallSettlement:
    """One transaction per ended call (or requeue); the job's final state is Settlement's."""

    def __init__(self, *, db: Database, catalog: Catalog, files: FileStore, clock: Clock) -> None:
        self._db = db
        self._catalog = catalog
        self._files = files
        self._clock = clock
        self._told_hidden_usage = False
        self._overruns = Overruns(clock)
        self.account = AccountAlarm()

    async def answered(self, run: JobRun, chunk: Chunk, result: ImagesResult) -> None:
        """Keep the images after those already kept and charge their real cost from now on.

        Without `usage` the real cost is unknown: the call is charged its share of the
        reservation (an upper bound) and its ledger row is marked estimated.
        """
        self.account.worked()
        billing: Billing = "actual" if result.usage_reported else "estimated"
        cost = cost_of(run.spec, result.usage) if result.usage_reported else chunk.micro_usd
        if result.reported_cost_micro_usd is not None:  # the provider's own figure wins
            billing, cost = "actual", result.reported_cost_micro_usd
        if billing == "estimated":
            self._tell_hidden_usage()
        elif result.reported_cost_micro_usd is not None:
            self._overruns.note(result.cost_basis, run.job.options.model, cost, chunk.micro_usd)
        elif cost > chunk.micro_usd:
            # Budgets hold only while estimates are upper bounds: worth an operator's look.
            log.warning(
                "job %s: a call cost %s micro-USD, above its estimate of %s; check the catalog",
                run.job.id,
                cost,
                chunk.micro_usd,
            )
        async with run.lock:  # numbering: each answer's images go after the previous ones
            saved = await self._store(run, result)
            run.answered += 1
            run.billed_images += len(result.images)
            run.real_micro_usd += cost
            run.answered_share += chunk.micro_usd
            run.made += len(saved)
            run.estimated_calls += billing == "estimated"
            call = self._call(run.job, chunk, result=result, cost=cost, billing=billing)
            if result.cost_basis is not None:  # says where the cost came from
                call = replace(call, price_version=result.cost_basis)
            async with self._db.transaction() as conn:
                if not await _still_running(conn, run.job.id):
                    return
                await insert_api_call(conn, call)
                await store.insert_files(conn, run.job.id, saved, self._clock.now())
                await set_running_charge(conn, run.job.id, run.running_charge())

    async def _store(self, run: JobRun, result: ImagesResult) -> list[NewFile]:
        if not result.images:
            run.stop(BotError("the image service answered without an image"), None)
            return []
        try:
            # Written before the commit: a committed job_files row always has its file.
            return await self._files.save_results(
                run.job.id, result.images, run.job.options.output_format, first_index=run.made
            )
        except OSError:
            log.exception("could not store the results of job %s", run.job.id)
            run.stop(BotError("the images were made but could not be stored"), None)
            return []

    async def refused(self, run: JobRun, chunk: Chunk, error: BotError) -> None:
        """A definitive failure (refusal, 4xx, retries exhausted): not billed, nothing more sent."""
        status, code = status_and_code(error)
        if isinstance(error, AccountProblemError):
            self.account.failed(error)
        run.stop(error, code)
        await self._insert(self._call(run.job, chunk, http_status=status, error_code=code,
                                      error=error))  # fmt: skip

    async def in_doubt(self, run: JobRun, chunk: Chunk, code: str, error: BotError | None) -> None:
        """The call went out and its answer is lost: its share stays charged, nothing more sent.

        Its ledger row carries that share, so the ledger's spend never understates the budgets.
        An answer that reported its cost but whose image could not be fetched is no doubt: it
        was made, and charged what the provider said (unfetched).
        """
        if isinstance(error, ResultUnfetchedError):
            await self.unfetched(run, chunk, error)
            return
        status = error.status if isinstance(error, UpstreamError) else None
        log.warning(
            "job %s: a call is in doubt (%s, request id %s): %s; its estimate of %s micro-USD "
            "stays charged and it is not sent again",
            run.job.id,
            code,
            error.request_id if isinstance(error, UpstreamError) else None,
            error or "interrupted",
            chunk.micro_usd,
        )
        run.doubt(chunk)
        run.stop(error, code)
        call = self._call(run.job, chunk, cost=chunk.micro_usd, http_status=status,
                          error_code=code, error=error, billing="in_doubt")  # fmt: skip
        await self._insert(call)

    async def unfetched(self, run: JobRun, chunk: Chunk, error: ResultUnfetchedError) -> None:
        """Made and billed (as the provider reported, or at its list price; else at the call's
        estimate, marked estimated), but its image never reached us."""
        known = error.cost_micro_usd is not None
        cost = error.cost_micro_usd if error.cost_micro_usd is not None else chunk.micro_usd
        log.warning("job %s: a call was made but its image could not be fetched: %s; charged %s "
                    "micro-USD (%s)", run.job.id, error, cost,
                    error.cost_basis if known else "its estimate")  # fmt: skip
        if known:
            self._overruns.note(error.cost_basis, run.job.options.model, cost, chunk.micro_usd)
        async with run.lock:
            run.answered += 1
            run.billed_images += chunk.images
            run.real_micro_usd += cost
            run.answered_share += chunk.micro_usd
            run.estimated_calls += not known
        run.stop(error, error.code)
        call = self._call(run.job, chunk, cost=cost, http_status=error.status,
                          error_code=error.code, error=error,
                          billing="actual" if known else "estimated")  # fmt: skip
        await self._insert(replace(call, price_version=error.cost_basis or call.price_version))

    def _tell_hidden_usage(self) -> None:
        if self._told_hidden_usage:
            return
        self._told_hidden_usage = True
        log.warning(
            "the images API answered without `usage` (a gateway that hides it?): such calls are "
            "charged at their upper-bound estimate and marked estimated in the ledger"
        )

    async def rate_limited(self, job: JobRecord, chunk: Chunk, error: UpstreamError) -> None:
        """A 429 whose images go out again: its ledger row, at no cost."""
        await self._insert(self.rate_limited_call(job, chunk, error))

    def rate_limited_call(self, job: JobRecord, chunk: Chunk, error: UpstreamError) -> ApiCall:
        return self._call(job, chunk, http_status=error.status or 429, error_code=error.code,
                          error=error)  # fmt: skip

    async def requeue(self, job: JobRecord, call: ApiCall | None = None) -> bool:
        """Back to queued with its reservation (a 429, or a stop before any call went out)."""
        async with self._db.transaction() as conn:
            await lock_guild_of_job(conn, job.id)  # its counters change: the guild's turn first
            if call is not None and await _still_running(conn, job.id):
                await insert_api_call(conn, call)
            return await store.requeue(conn, job.id)

    async def attempt(self, job: JobRecord, chunk: Chunk, attempt: FailedAttemptLike) -> None:
        """A failed call that the client retried: its own ledger row, at no cost."""
        call = self._call(
            job,
            chunk,
            http_status=attempt.status,
            error_code=attempt.code or type(attempt.error).__name__,
            request_id=attempt.request_id,
            latency_ms=attempt.latency_ms,
        )
        await self._insert(call)

    async def _insert(self, call: ApiCall) -> None:
        async with self._db.transaction() as conn:
            if await _still_running(conn, call.job_id):
                await insert_api_call(conn, call)

    def _call(self, job: JobRecord, chunk: Chunk, **outcome: Unpack[CallOutcome]) -> ApiCall:
        return api_call(
            job,
            n=chunk.images,
            price_version=self._catalog.version,
            now=self._clock.now(),
            **outcome,
        )


async def _still_running(conn: Transaction, job_id: int | None) -> bool:
    """A call is recorded only while its job runs: with several processes, the one that took
    the dispatcher lease over may have ended it already (unknown, its doubt charged by its own
    "interrupted" row), and a second row would count the same call twice (bot/cluster/)."""
    if job_id is None:
        return True
    # The guild's lock before any row (bot/store/endings.py lock_guild_of_job): the running
    # check then holds until commit, and no ending of the guild's jobs runs in between.
    await lock_guild_of_job(conn, job_id)
    if await store.is_running(conn, job_id):
        return True
    log.info("job %s ended elsewhere meanwhile: its call is not recorded again", job_id)
    return False
