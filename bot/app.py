"""Composition root: build settings, resources and services, then run the Discord bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx

from bot.catalog.models import Catalog, load_catalog
from bot.clock import Clock, SystemClock
from bot.cluster.leader import Leadership
from bot.cluster.liveness import Liveness
from bot.cluster.shards import claimed_shards
from bot.cluster.wiring import build_leadership
from bot.db import Database, DriverError, open_database
from bot.errors import ConfigError
from bot.guilds.service import GuildSettingsService
from bot.jobs.admit.access import GuildAccess
from bot.jobs.lifecycle import QueueLifecycle
from bot.jobs.provider_parts import batches_for, images_client, paced, screener_for
from bot.jobs.safety.community import CommunitySafety
from bot.jobs.service import JobService
from bot.jobs.settle.database_files import DatabaseFileStore
from bot.jobs.settle.origins import OriginBook
from bot.jobs.settle.retention import Retention
from bot.jobs.wiring import QueueSettings, build_job_queue
from bot.ops.kit import OpsKit
from bot.ops.provider_watch import WatchedTransport
from bot.ops.startup import (
    OPEN_ERRORS,
    check_data_dir,
    check_database,
    database_error,
    postgresql_error,
)
from bot.provider.availability import ProviderModels
from bot.provider.download import ResultDownloader
from bot.provider.fal import FalQueueClient
from bot.provider.images import OpenAIImagesClient, build_http_client
from bot.provider.profiles import load_profile
from bot.provider.timeouts import ReadTimeouts
from bot.reports.usage import UsageService
from bot.settings import Settings
from bot.store.disk_files import DiskFileStore
from bot.store.files import FileStore
from cogs._client import EXTENSIONS, ImageBot
from cogs._connect import log_in_and_connect, point_discord_at

# The client (cogs/_client.py) and the connection (cogs/_connect.py) are named here too: the
# composition root is where the rest of the code finds them.
__all__ = [
    "EXTENSIONS",
    "ImageBot",
    "Services",
    "build_services",
    "loop_factory",
    "point_discord_at",
    "run",
]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the cogs use, built once here and passed down."""

    settings: Settings
    db: Database
    catalog: Catalog
    openai: OpenAIImagesClient | FalQueueClient  # the profile's API (bot/provider/profiles.py)
    models: ProviderModels  # what the provider's /models offers this key
    files: FileStore
    guilds: GuildSettingsService
    jobs: JobService
    job_queue: QueueLifecycle
    retention: Retention
    usage: UsageService
    clock: Clock
    safety: CommunitySafety
    ops: OpsKit  # metrics, the provider watch, the HTTP server (bot/ops/)
    access: GuildAccess
    leadership: Leadership  # starts the dispatcher side while this process holds the lease
    origins: OriginBook  # each job's interaction, stored for other processes (cluster mode)


@contextlib.asynccontextmanager
async def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    queue: QueueSettings | None = None,
    read_timeouts: ReadTimeouts | None = None,
    download_transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Services]:
    """Open the database and HTTP client, build every service; close them on exit.

    `queue` defaults to QueueSettings.from_settings(settings); benchmarks/admission.py lifts
    its queue limits to keep a deep queue. `transport` and `read_timeouts` are for tests (a
    mock transport, timeouts scaled down); `download_transport` carries URL results (tests
    route the result hosts to a loopback fake). PROVIDER's profile is read here, once.
    """
    clock = clock or SystemClock()
    catalog = load_catalog(settings.model_catalog)
    profile = load_profile(settings.provider, settings.openai_base_url)
    ops = OpsKit()
    transport = WatchedTransport(transport or httpx.AsyncHTTPTransport(), ops.watch, ops.metrics)
    http = build_http_client(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key.get_secret_value(),
        organization=settings.openai_organization,
        project=settings.openai_project,
        transport=transport,
        profile=profile,
    )
    results_http = httpx.AsyncClient(
        headers={"User-Agent": "imagebot"}, transport=download_transport
    )
    downloader = ResultDownloader(results_http, profile.results)
    opened = open_database(settings.database, wait_s=settings.database_wait_seconds)
    async with opened as db, http, results_http:
        openai = images_client(http, profile, downloader, read_timeouts)
        models = ProviderModels(openai.list_models, clock)
        files = (
            DatabaseFileStore(db, clock)
            if settings.database_url
            else DiskFileStore(settings.data_dir)
        )
        guilds = GuildSettingsService(db, clock, catalog)
        safety = CommunitySafety(db, screener_for(profile, http, settings, clock), clock)
        liveness = Liveness(db, clock)  # held from Leadership.start(); nothing on SQLite
        jobs = build_job_queue(
            paced(queue or QueueSettings.from_settings(settings), profile, settings),
            db=db,
            catalog=catalog,
            backend=openai,
            files=files,
            clock=clock,
            offered=models.offers,
            batches=batches_for(profile, http),
            safety=safety,
            provider=profile,
            owners=liveness,
        )
        access = GuildAccess(settings.guilds, settings.guild_ids, db, clock)
        leadership = build_leadership(jobs, db=db, clock=clock,
                                      retention_days=settings.result_retention_days,
                                      on_change=ops.metrics.dispatcher.set,
                                      liveness=liveness)  # fmt: skip
        yield Services(
            settings=settings,
            db=db,
            catalog=catalog,
            openai=openai,
            models=models,
            files=files,
            guilds=guilds,
            jobs=jobs.service,
            job_queue=jobs.lifecycle,
            retention=jobs.retention,
            usage=UsageService(db, clock),
            clock=clock,
            safety=safety,
            ops=ops,
            access=access,
            leadership=leadership,
            origins=OriginBook(db=db, clock=clock, shared=settings.database_url is not None),
        )


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (the `speed` extra), else None: asyncio's own.

    uvloop cuts discord.py's CPU per interaction by about a tenth (benchmarks/admission.py); the bot
    runs the same without it (leaving it out is the opt-out).
    """
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def run(settings: Settings) -> None:
    """Run the bot until SIGTERM or SIGINT, then shut down cleanly.

    Start-up mistakes (a refused token, an unknown DEV_GUILD_ID, a database that cannot be
    opened, no way to reach Discord) end as one ConfigError or UnreachableError, no traceback.
    """
    point_discord_at(settings)
    stopper = _ShardLoss()
    async with contextlib.AsyncExitStack() as stack:
        services = await _open_services(stack, settings)
        if settings.database_url is not None:  # several processes: a shard each
            await _claim_shards(stack, services, settings, stopper)
        bot = stopper.bot = await stack.enter_async_context(ImageBot(services))
        _close_on_signals(bot)
        model = services.catalog.models.get(settings.image_model)
        if model is not None and model.is_retired(services.clock.now().date()):
            log.warning("IMAGE_MODEL %s was shut down on %s", model.name, model.shutdown)
        await bot.serve_ops()  # before Discord: a port in use is named as such
        await log_in_and_connect(bot, settings)
    if stopper.error is not None:
        raise stopper.error


class _ShardLoss:
    """Closes the bot when another process took its shards (bot/cluster/shards.py): two must
    not answer one shard's interactions; the error is the process's last line."""

    def __init__(self) -> None:
        self.bot: ImageBot | None = None
        self.error: ConfigError | None = None
        self._closing: asyncio.Task[None] | None = None

    def __call__(self, error: ConfigError) -> None:
        self.error = error
        if self.bot is not None:
            self._closing = asyncio.get_running_loop().create_task(self.bot.close())


async def _claim_shards(
    stack: contextlib.AsyncExitStack,
    services: Services,
    settings: Settings,
    on_lost: Callable[[ConfigError], None],
) -> None:
    """This process's shards, claimed for its life (bot/cluster/shards.py), and its liveness
    key (bot/cluster/liveness.py), each on a connection of its own: or one line."""
    # Every shard count has a shard 0: two processes left to Discord's count clash there.
    claim = claimed_shards(services.db, settings.shards or (0,), settings.shard_count,
                           clock=services.clock, on_lost=on_lost)  # fmt: skip
    try:
        await stack.enter_async_context(claim)
        await services.leadership.join()
    except DriverError as exc:  # e.g. the server's max_connections reached
        assert settings.database_url is not None
        raise postgresql_error(settings.database_url.get_secret_value(), 0, exc) from None


async def _open_services(stack: contextlib.AsyncExitStack, settings: Settings) -> Services:
    url = settings.database_url
    if url is None:  # with DATABASE_URL every file is a row of PostgreSQL: DATA_DIR is unused
        check_database(settings.database_path)
        check_data_dir(settings.data_dir)
    try:
        return await stack.enter_async_context(build_services(settings))
    except OPEN_ERRORS as exc:
        if url is not None:
            waited = settings.database_wait_seconds
            raise postgresql_error(url.get_secret_value(), waited, exc) from None
        raise database_error(settings.database_path, exc) from None


def _close_on_signals(bot: ImageBot) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: asyncio.ensure_future(bot.close()))
