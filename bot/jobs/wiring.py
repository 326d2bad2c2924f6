"""One place that builds the job queue's parts from one frozen QueueSettings, each part once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.catalog.models import Catalog
from bot.clock import Clock
from bot.db import Database
from bot.jobs.admit.admission import Admission
from bot.jobs.admit.limits import AccountCeilings
from bot.jobs.backend import BatchApi, ImageBackend
from bot.jobs.events import EventBus, JobSink
from bot.jobs.lifecycle import QueueLifecycle
from bot.jobs.order.dispatcher import Dispatcher
from bot.jobs.order.pacing import Pacer
from bot.jobs.order.queue import JobQueue
from bot.jobs.owners import Owners
from bot.jobs.relaxed.lane import RelaxedLane, RelaxedTiming
from bot.jobs.run.runner import JobRunner
from bot.jobs.safety.community import CommunitySafety
from bot.jobs.service import JobService
from bot.jobs.settle.calls import CallSettlement
from bot.jobs.settle.ending import Endings
from bot.jobs.settle.retention import Retention
from bot.jobs.settle.settlement import Settlement
from bot.jobs.split import MAX_REQUEST_IMAGES
from bot.provider.profile import ProviderProfile
from bot.settings import Settings
from bot.store.files import FileStore


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """How the job queue runs: the account's limits (IPM images and TPM tokens per minute, from
    OPENAI_TIER or OPENAI_IPM/OPENAI_TPM), the default model, and the queue's own bounds."""

    ipm: int
    tpm: int
    default_model: str
    burst: int | None = None  # images sent back to back; None: a tenth of IPM (pacing.py)
    max_in_flight: int = 4  # jobs running at once
    member_queue_limit: int = 3  # queued jobs per member
    guild_queue_limit: int = 50  # queued jobs per guild
    max_rate_limit_retries: int = 5  # 429s of one job before it fails
    max_request_images: int = MAX_REQUEST_IMAGES  # most images per request of a generation
    relaxed: RelaxedTiming = field(default_factory=RelaxedTiming)  # gathering window, polling
    account: AccountCeilings = field(default_factory=AccountCeilings)  # every guild together

    @classmethod
    def from_settings(cls, settings: Settings) -> QueueSettings:
        account = AccountCeilings(
            settings.account_daily_micro_usd, settings.account_monthly_micro_usd
        )
        return cls(
            ipm=settings.ipm, tpm=settings.tpm, default_model=settings.image_model, account=account
        )


@dataclass(frozen=True, slots=True)
class JobQueueParts:
    """What the rest of the bot uses: members' operations, the queue's life, retention."""

    service: JobService
    lifecycle: QueueLifecycle
    retention: Retention
    relaxed: RelaxedLane | None = None  # the relaxed speed's lane, when a Batch API is given
    queue: JobQueue | None = None  # the in-memory queue (a mirror's sync fills it, bot/cluster/)
    wake: Callable[[], None] | None = None  # tells the dispatcher to look at the queue again


def build_job_queue(
    settings: QueueSettings,
    *,
    db: Database,
    catalog: Catalog,
    backend: ImageBackend,
    files: FileStore,
    clock: Clock,
    sink: JobSink | None = None,
    offered: Callable[[str], bool] | None = None,  # does the provider offer this model?
    batches: BatchApi | None = None,
    safety: CommunitySafety | None = None,  # blocklist, screening and cool-downs at admission
    provider: ProviderProfile | None = None,  # what it lacks is refused at admission
    owners: Owners | None = None,  # this process's id on its running jobs (bot/cluster/)
) -> JobQueueParts:
    """Build the pacer, queue, settlement, runner, dispatcher and admission once and wire them;
    with `batches` (the Files and Batches API) also the relaxed lane."""
    bus = EventBus(sink)
    pacer = Pacer(ipm=settings.ipm, tpm=settings.tpm, clock=clock, burst=settings.burst)
    queue = JobQueue(bus)
    wakeup = asyncio.Event()  # set by whatever changes what may go; the dispatcher waits on it
    endings = Endings(db=db, files=files, clock=clock, bus=bus)  # every job ends through this
    settlement = Settlement(db=db, catalog=catalog, clock=clock, endings=endings)
    calls = CallSettlement(db=db, catalog=catalog, files=files, clock=clock)
    runner = JobRunner(
        db=db,
        catalog=catalog,
        backend=backend,
        files=files,
        pacer=pacer,
        clock=clock,
        bus=bus,
        queue=queue,
        settlement=settlement,
        calls=calls,
        wake=wakeup.set,
        max_rate_limit_retries=settings.max_rate_limit_retries,
        max_request_images=settings.max_request_images,
        owners=owners,
    )
    dispatcher = Dispatcher(
        queue=queue,
        pacer=pacer,
        clock=clock,
        execute=runner.execute,
        max_in_flight=settings.max_in_flight,
        wakeup=wakeup,
    )
    admission = Admission(
        db=db,
        catalog=catalog,
        files=files,
        clock=clock,
        fits_ever=pacer.fits_ever,
        ipm=settings.ipm,
        tpm=settings.tpm,
        default_model=settings.default_model,
        member_queue_limit=settings.member_queue_limit,
        guild_queue_limit=settings.guild_queue_limit,
        offered=offered,
        safety=safety,
        provider=provider,
        account=settings.account,
    )
    relaxed = None
    if batches is not None:
        relaxed = RelaxedLane(db=db, catalog=catalog, files=files, clock=clock, bus=bus,
                              client=batches, endings=endings, timing=settings.relaxed,
                              account=calls.account)  # fmt: skip
    service = JobService(
        db=db,
        files=files,
        clock=clock,
        bus=bus,
        queue=queue,
        admission=admission,
        runner=runner,
        endings=endings,
        wake=wakeup.set,
        relaxed=relaxed,
    )
    lifecycle = QueueLifecycle(
        db=db,
        files=files,
        clock=clock,
        bus=bus,
        queue=queue,
        settlement=settlement,
        runner=runner,
        dispatcher=dispatcher,
        service=service,
        pacer=pacer,
        relaxed=relaxed,
        provider_title=provider.title if provider is not None else "the image service",
        owners=owners,
    )
    retention = Retention(db=db, files=files, clock=clock)
    return JobQueueParts(service, lifecycle, retention, relaxed, queue, wakeup.set)
