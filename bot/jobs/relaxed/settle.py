"""Settlement of relaxed jobs: each batch line at the batch price, or released when not run.

A line with images is charged from its `usage` at the catalog's batch prices, its images kept
and the job delivered like a fast one; a line the provider answered with an error (a refusal,
a 4xx or 5xx) is charged nothing; a line the batch never ran (expired, cancelled, or a batch
that failed validation) is released and its member told. Each job settles in one transaction
that ends it only if it is still running (bot/jobs/settle/ending.py), so settling a batch again
after a crash changes nothing that was already settled.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from bot.catalog.models import Catalog, ModelSpec
from bot.catalog.pricing import cost_of
from bot.clock import Clock
from bot.domain import ImageRequest
from bot.errors import BatchNotRunError, BotError
from bot.jobs.settle.calls import CallOutcome, api_call, status_and_code
from bot.jobs.settle.ending import Endings
from bot.provider.batch_wire import LineOutcome
from bot.records import Billing, JobRecord
from bot.store.files import FileStore
from bot.store.ledger import ApiCall

log = logging.getLogger(__name__)

# Lines that say the batch never ran the request: nothing was done, so nothing is charged.
NOT_RUN_CODES = frozenset({"batch_expired", "batch_cancelled", "batch_failed", "not_run"})


def _at_fast_rate(spec: ModelSpec, micro_usd: int) -> int:
    batch = spec.token_prices(relaxed=True).image_output
    return micro_usd * spec.prices.image_output // batch if batch else micro_usd


def line_request(job: JobRecord) -> ImageRequest:
    """The request a line answers, as far as reading its answer needs (options only)."""
    return ImageRequest(operation=job.operation, prompt=job.prompt, options=job.options)


class RelaxedSettlement:
    """Ends relaxed jobs from their batch lines; emits the same events as fast jobs."""

    def __init__(
        self, *, catalog: Catalog, files: FileStore, clock: Clock, endings: Endings
    ) -> None:
        self._catalog = catalog
        self._files = files
        self._clock = clock
        self._endings = endings

    async def line(self, job: JobRecord, outcome: LineOutcome, since: datetime) -> None:
        """Settle one job from its line; `since` is when its batch was opened (for latency)."""
        latency = max(0, round((self._clock.now() - since).total_seconds() * 1000))
        if outcome.result is not None and outcome.result.images:
            await self._succeeded(job, outcome, latency)
            return
        error = outcome.error or BotError("the batch line carried no image")
        code = outcome.error_code or status_and_code(error)[1]
        if code in NOT_RUN_CODES:
            status = code.removeprefix("batch_")
            error = BatchNotRunError(status, str(outcome.error) if outcome.error else None)
        call = self._call(job, latency_ms=latency, http_status=outcome.http_status,
                          error_code=code, request_id=outcome.request_id, error=error)  # fmt: skip
        await self._endings.finish(job, "failed", (0, 0), "actual", error=error, code=code,
                                   calls=(call,))  # fmt: skip

    async def not_run(self, job: JobRecord, status: str, reason: str | None = None) -> None:
        """The batch ended (or never started) without running this job: released, told."""
        error = BatchNotRunError(status, reason)
        call = self._call(job, error_code=f"batch_{status}", error=error)
        await self._endings.finish(job, "failed", (0, 0), "actual", error=error,
                                   code=f"batch_{status}", calls=(call,))  # fmt: skip

    async def lost(self, job: JobRecord) -> None:
        """A completed batch without this job's line: it may have run and been billed."""
        message = (
            "the relaxed batch finished without this request's answer; it may have been billed"
        )
        call = self._call(job, cost=job.charged_micro_usd, error_code="batch_line_missing",
                          billing="in_doubt")  # fmt: skip
        charged = (job.charged_micro_usd, job.charged_images)
        await self._endings.finish(job, "unknown", charged, "in_doubt", code="batch_line_missing",
                                   message=message, calls=(call,))  # fmt: skip

    async def _succeeded(self, job: JobRecord, outcome: LineOutcome, latency: int) -> None:
        result = outcome.result
        assert result is not None
        spec = self._catalog.get(job.model)
        if result.usage_reported:
            cost, fast = cost_of(spec, result.usage, relaxed=True), cost_of(spec, result.usage)
        else:
            # No `usage` on the line: charged its reservation (an upper bound at the batch price),
            # the row marked estimated; its fast price scaled by the image output rates.
            cost, fast = job.estimated_micro_usd, _at_fast_rate(spec, job.estimated_micro_usd)
        if cost > job.estimated_micro_usd:
            log.warning("relaxed job %s cost %s micro-USD, above its estimate of %s",
                        job.id, cost, job.estimated_micro_usd)  # fmt: skip
        saved = await self._files.save_results(job.id, result.images, job.options.output_format)
        billing: Billing = "actual" if result.usage_reported else "estimated"
        call = self._call(job, result=replace(result, latency_ms=latency), cost=cost,
                          billing=billing)  # fmt: skip
        call = replace(call, fast_cost_micro_usd=fast)
        await self._endings.finish(job, "succeeded", (cost, len(saved)), billing, calls=(call,),
                                   files=saved)  # fmt: skip

    def _call(self, job: JobRecord, **outcome: object) -> ApiCall:
        typed: CallOutcome = outcome  # type: ignore[assignment]  # keys are CallOutcome's
        call = api_call(job, n=job.n, price_version=self._catalog.version,
                        now=self._clock.now(), **typed)  # fmt: skip
        return replace(call, speed="relaxed")
