"""Composition root: build settings, resources and services, then run the Discord bot."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

import discord
import httpx
import yarl
from discord.ext import commands

from bot.catalog.models import Catalog, load_catalog
from bot.clock import Clock, SystemClock
from bot.db import Database, open_database
from bot.jobs.lifecycle import QueueLifecycle
from bot.jobs.safety.community import CommunitySafety
from bot.jobs.safety.screening import RequestPacer, Screener
from bot.jobs.service import JobService
from bot.jobs.settle.retention import Retention
from bot.jobs.wiring import QueueSettings, build_job_queue
from bot.provider.availability import ProviderModels, missing_from_provider
from bot.provider.batches import OpenAIBatchesClient
from bot.provider.images import OpenAIImagesClient, build_http_client
from bot.provider.moderation import OpenAIModerationClient
from bot.provider.timeouts import ReadTimeouts
from bot.reports.usage import HIDDEN_USAGE_DAYS, UsageService, hidden_usage_line
from bot.settings import Settings
from bot.store.files import FileStore
from bot.store.guilds import GuildSettingsStore
from bot.store.ledger import hidden_usage_since
from bot.store.meta import MetaStore
from bot.store.safety import SafetyStore
from bot.store.usage import UsageStore

log = logging.getLogger(__name__)

# Explicit, like RoboDanny: underscore modules in cogs/ are helpers, not extensions.
EXTENSIONS = (
    "cogs.errors",
    "cogs.images",
    "cogs.jobs",
    "cogs.usage",
    "cogs.admin",
    "cogs.blocklist",
    "cogs.styles",
)
SYNC_HASH_KEY = "global_commands_sha256"
RETENTION_SWEEP_SECONDS = 6 * 3600  # results expire by the day; a few sweeps a day is plenty


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the cogs use, built once here and passed down."""

    settings: Settings
    db: Database
    catalog: Catalog
    openai: OpenAIImagesClient
    models: ProviderModels  # what the provider's /models offers this key
    files: FileStore
    guilds: GuildSettingsStore
    jobs: JobService
    job_queue: QueueLifecycle
    retention: Retention
    usage: UsageService
    meta: MetaStore
    clock: Clock
    safety: CommunitySafety


class ImageBot(commands.Bot):
    """The Discord client: loads the cogs, starts the job queue, syncs commands."""

    def __init__(self, services: Services, **options: object) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channels and roles for permission checks; no privileged intents
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
            **options,  # type: ignore[arg-type]  # e.g. guild_ready_timeout from tests
        )
        self.services = services
        self._sweeper: asyncio.Task[None] | None = None
        self._models_task: asyncio.Task[None] | None = None

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self._ask_provider_models()
        await self._tell_hidden_usage()
        await self.services.job_queue.start()
        self._sweeper = asyncio.create_task(self._sweep_expired_results())
        self._models_task = asyncio.create_task(self.services.models.refresh_daily())
        await self.sync_commands()

    async def on_ready(self) -> None:
        # What start-up built (modules, the catalog, the command tree, the guilds' caches) lives
        # as long as the process: frozen, it is no longer walked by every full collection,
        # which took 35-110 ms of the event loop at 200 /imagine a second (benchmarks/admission).
        gc.collect()
        gc.freeze()

    async def _ask_provider_models(self) -> None:
        """Ask /models once now (daily after): autocomplete and admission offer what it lists."""
        models = self.services.models
        if await models.refresh() and models.ids is not None:
            lacking = missing_from_provider(self.services.catalog.names(), models.ids)
            if lacking:
                log.info("the provider does not offer %s; not offered to members", lacking)
            if self.services.settings.image_model in lacking:
                log.warning(
                    "IMAGE_MODEL %s is not offered by the provider: requests without a model "
                    "will be refused",
                    self.services.settings.image_model,
                )

    async def _tell_hidden_usage(self) -> None:
        """Say once at start-up if recent answers came without `usage` (charged at estimates)."""
        since = self.services.clock.now() - timedelta(days=HIDDEN_USAGE_DAYS)
        line = hidden_usage_line(await hidden_usage_since(self.services.db.conn, since))
        if line is not None:
            log.warning("%s", line)

    async def _sweep_expired_results(self) -> None:
        """Delete kept results older than RESULT_RETENTION_DAYS, now and every few hours."""
        days = self.services.settings.result_retention_days
        while True:
            try:
                removed = await self.services.retention.purge_expired(days)
            except Exception:
                log.exception("could not purge expired results")
            else:
                if removed:
                    log.info("deleted %d result files older than %d days", removed, days)
            await self.services.clock.sleep(RETENTION_SWEEP_SECONDS)

    async def sync_commands(self) -> None:
        """DEV_GUILD_ID: sync there at once; otherwise globally, only when the set changed.

        Discord allows 200 command creates a day per guild, so a global sync on every start is
        both slow to propagate and wasteful.
        """
        dev_guild = self.services.settings.dev_guild_id
        if dev_guild is not None:
            guild = discord.Object(id=dev_guild)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
            log.info("synced commands to guild %s", dev_guild)
            return
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands()]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        if await self.services.meta.get(SYNC_HASH_KEY) == digest:
            log.info("commands unchanged; not syncing")
            return
        await self.tree.sync()
        await self.services.meta.put(SYNC_HASH_KEY, digest)
        log.info("synced %d global commands", len(payload))

    async def close(self) -> None:
        for task in (self._sweeper, self._models_task):
            if task is not None:
                task.cancel()
        await self.services.job_queue.stop()
        await super().close()


def point_discord_at(settings: Settings) -> None:
    """Honour DISCORD_API_BASE and DISCORD_GATEWAY_URL (discord.py's only knobs are these)."""
    discord.http.Route.BASE = settings.discord_api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


@contextlib.asynccontextmanager
async def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    queue: QueueSettings | None = None,
    read_timeouts: ReadTimeouts | None = None,
) -> AsyncIterator[Services]:
    """Open the database and HTTP client, build every service; close them on exit.

    `queue` defaults to QueueSettings.from_settings(settings); benchmarks/admission.py lifts
    its queue limits to keep a deep queue. `transport` and `read_timeouts` are for tests (a
    mock transport, timeouts scaled down).
    """
    clock = clock or SystemClock()
    catalog = load_catalog(settings.model_catalog)
    http = build_http_client(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key.get_secret_value(),
        organization=settings.openai_organization,
        project=settings.openai_project,
        transport=transport,
    )
    async with open_database(settings.database_path) as db, http:
        openai = OpenAIImagesClient(http, timeouts=read_timeouts)
        models = ProviderModels(openai.list_models, clock)
        files = FileStore(settings.data_dir)
        guilds = GuildSettingsStore(db, clock, catalog)
        screener = Screener(
            OpenAIModerationClient(http), RequestPacer(settings.moderation_rpm, clock)
        )
        safety = CommunitySafety(SafetyStore(db), screener, clock)
        jobs = build_job_queue(
            queue or QueueSettings.from_settings(settings),
            db=db,
            catalog=catalog,
            backend=openai,
            files=files,
            clock=clock,
            offered=models.offers,
            batches=OpenAIBatchesClient(http),
            safety=safety,
        )
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
            usage=UsageService(UsageStore(db.conn), clock),
            meta=MetaStore(db),
            clock=clock,
            safety=safety,
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
    """Run the bot until SIGTERM or SIGINT, then shut down cleanly."""
    point_discord_at(settings)
    async with build_services(settings) as services, ImageBot(services) as bot:
        _close_on_signals(bot)
        for model in services.catalog.retired(services.clock.now().date()):
            log.warning("model %s is past its shutdown date (%s)", model.name, model.shutdown)
        await bot.start(settings.discord_token.get_secret_value())


def _close_on_signals(bot: ImageBot) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: asyncio.ensure_future(bot.close()))
