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

import aiohttp
import discord
import httpx
import yarl
from discord.ext import commands

from bot.catalog.models import Catalog, load_catalog
from bot.clock import Clock, SystemClock
from bot.cluster.leader import Leadership
from bot.cluster.wiring import build_leadership
from bot.db import Database, open_database
from bot.errors import ConfigError, UnreachableError
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
from bot.ops.job_log import JobObserver
from bot.ops.kit import OpsKit
from bot.ops.provider_watch import WatchedTransport
from bot.ops.startup import (
    OPEN_ERRORS,
    check_data_dir,
    check_database,
    database_error,
    postgresql_error,
    reach_gateway,
    short_reason,
)
from bot.provider.availability import ProviderModels, missing_from_provider
from bot.provider.download import ResultDownloader
from bot.provider.fal import FalQueueClient
from bot.provider.images import OpenAIImagesClient, build_http_client
from bot.provider.profiles import load_profile
from bot.provider.timeouts import ReadTimeouts
from bot.reports.usage import HIDDEN_USAGE_DAYS, UsageService, hidden_usage_line
from bot.settings import Settings
from bot.store import meta
from bot.store.disk_files import DiskFileStore
from bot.store.files import FileStore
from bot.store.ledger import hidden_usage_since

log = logging.getLogger(__name__)
# Over 300 lines for a reason: the one module that may import discord and aiohttp
# (tests/test_architecture.py), so the Discord-facing parts of start-up and bot/ops live here.

# Explicit, like RoboDanny: underscore modules in cogs/ are helpers, not extensions.
EXTENSIONS = (
    "cogs.errors",
    "cogs.images",
    "cogs.jobs",
    "cogs.usage",
    "cogs.admin",
    "cogs.blocklist",
    "cogs.styles",
    "cogs.operator",
)
SYNC_HASH_KEY = "global_commands_sha256"
# What the bot needs in a channel (README "Inviting the bot"): view, send, embed, attach, history,
# use external emoji, send in threads.
INVITE_PERMISSIONS = 274878024704
GATEWAY_AUTH_FAILED = 4004  # https://discord.com/developers/docs/topics/opcodes-and-status-codes
GUILD_CODES = (10004, 50001)  # Unknown Guild; Missing Access (the bot is not a member)


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


class ImageBot(commands.Bot):
    """The Discord client: loads the cogs, starts the job queue, syncs commands."""

    def __init__(self, services: Services, **options: object) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channels and roles for permission checks; no privileged intents
        # The bot never joins voice: discord.py's warnings about voice libraries need no action.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            http_trace=_ack_trace(services),
            # Nobody is pinged unless a message names the member it answers (README "Commands").
            allowed_mentions=discord.AllowedMentions.none(),
            **options,  # type: ignore[arg-type]  # e.g. guild_ready_timeout from tests
        )
        self.services = services
        self._models_task: asyncio.Task[None] | None = None
        self._told_ready = False

    async def setup_hook(self) -> None:
        await self._find_operators()
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        observer = JobObserver(self.services.ops.metrics, since=self.services.clock.now())
        self.services.job_queue.observe(observer)
        await self.serve_ops()
        await self._ask_provider_models()
        await self._tell_hidden_usage()
        await self.services.leadership.start()
        self._models_task = asyncio.create_task(self.services.models.refresh_daily())
        await self.sync_commands()

    async def on_ready(self) -> None:
        # What start-up built (modules, the catalog, the command tree, the guilds' caches) lives
        # as long as the process: frozen, it is no longer walked by every full collection,
        # which took 35-110 ms of the event loop at 200 /imagine a second (benchmarks/admission).
        gc.collect()
        gc.freeze()
        if not self._told_ready and self.application_id is not None:
            self._told_ready = True
            link = discord.utils.oauth_url(
                self.application_id,
                permissions=discord.Permissions(INVITE_PERMISSIONS),
                scopes=("bot", "applications.commands"),
            )
            log.info("ready: in %d server(s); invite link: %s", len(self.guilds), link)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.services.ops.metrics.interactions.labels(interaction.type.name).inc()

    def gateway_state(self) -> tuple[bool, float | None]:
        """Whether the gateway is connected now, and its heartbeat round trip if known."""
        ws = self.ws
        connected = self.is_ready() and ws is not None and ws.open and not self.is_closed()
        return connected, (ws.latency if connected and ws is not None else None)

    def _dispatching(self) -> bool:
        return self.services.leadership.healthy()

    async def serve_ops(self) -> None:
        """Listen on HTTP_HOST:HTTP_PORT (once), or raise the ConfigError naming them."""
        settings, services = self.services.settings, self.services
        if settings.http_port is None or services.ops.server is not None:
            return
        try:
            await self._listen(settings.http_host, settings.http_port)
        except OSError as exc:
            where = f"{settings.http_host}:{settings.http_port}"
            fix = "free the port or set HTTP_PORT (or HTTP_HOST) to one this host can listen on"
            reason = f"cannot listen on {where} ({short_reason(exc)}): {fix}"
            raise ConfigError("HTTP_PORT", reason) from None

    async def _listen(self, host: str, port: int) -> None:
        services = self.services
        await services.ops.serve(
            host=host,
            port=port,
            db=services.db,
            clock=services.clock,
            gateway=self.gateway_state,
            dispatching=self._dispatching,
            probe=services.openai.list_models,
        )

    async def _find_operators(self) -> None:
        """OPERATOR_IDS, else the application's owner or its team's members (GUILDS=operators
        serves the guilds they are in)."""
        operators = self.services.settings.operators
        if operators is None:
            info = await self.application_info()
            team = info.team
            operators = frozenset(
                [m.id for m in team.members] if team is not None else [info.owner.id]
            )
        self.services.access.connect(operators, self._is_member)

    async def _is_member(self, guild_id: int, user_id: int) -> bool:
        """Whether a user is in a guild: the guild's owner, a cached member, or asked of Discord
        (GET /guilds/{id}/members/{user} needs no privileged intent)."""
        guild = self.get_guild(guild_id)
        if guild is None:
            return False
        if guild.owner_id == user_id or guild.get_member(user_id) is not None:
            return True
        try:
            await guild.fetch_member(user_id)
        except discord.NotFound:
            return False
        return True

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
        line = hidden_usage_line(await hidden_usage_since(self.services.db, since))
        if line is not None:
            log.warning("%s", line)

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
        db = self.services.db
        if await meta.get(db, SYNC_HASH_KEY) == digest:
            log.info("commands unchanged; not syncing")
            return
        await self.tree.sync()
        async with db.transaction() as conn:
            await meta.put(conn, SYNC_HASH_KEY, digest)
        log.info("synced %d global commands", len(payload))

    async def close(self) -> None:
        if self._models_task is not None:
            self._models_task.cancel()
        await self.services.leadership.stop()
        await self.services.ops.close()
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
        )
        access = GuildAccess(settings.guilds, settings.guild_ids, db, clock)
        leadership = build_leadership(jobs, db=db, clock=clock,
                                      retention_days=settings.result_retention_days,
                                      on_change=ops.metrics.dispatcher.set)  # fmt: skip
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
    async with contextlib.AsyncExitStack() as stack:
        services = await _open_services(stack, settings)
        bot = await stack.enter_async_context(ImageBot(services))
        _close_on_signals(bot)
        model = services.catalog.models.get(settings.image_model)
        if model is not None and model.is_retired(services.clock.now().date()):
            log.warning("IMAGE_MODEL %s was shut down on %s", model.name, model.shutdown)
        await bot.serve_ops()  # before Discord: a port in use is named as such
        try:
            await bot.login(settings.discord_token.get_secret_value())
            await reach_gateway(settings.discord_gateway_url)
            await bot.connect()
        except (discord.LoginFailure, discord.ConnectionClosed, discord.HTTPException) as exc:
            refusal = _discord_refusal(exc, settings)
            if refusal is None:
                raise
            raise refusal from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            reason = short_reason(exc)
            raise UnreachableError("Discord", settings.discord_api_base, reason) from None


async def _open_services(stack: contextlib.AsyncExitStack, settings: Settings) -> Services:
    url = settings.database_url
    if url is None:
        check_database(settings.database_path)
    check_data_dir(settings.data_dir)
    try:
        return await stack.enter_async_context(build_services(settings))
    except OPEN_ERRORS as exc:
        if url is not None:
            waited = settings.database_wait_seconds
            raise postgresql_error(url.get_secret_value(), waited, exc) from None
        raise database_error(settings.database_path, exc) from None


def _discord_refusal(exc: Exception, settings: Settings) -> ConfigError | None:
    """A refusal from Discord at start-up as the setting to fix; None for anything else."""
    if isinstance(exc, discord.LoginFailure) or getattr(exc, "code", None) == GATEWAY_AUTH_FAILED:
        fix = "reset it in the Developer Portal (Bot, Reset Token) and set the new one"
        return ConfigError("DISCORD_TOKEN", f"was refused by Discord: {fix}")
    guild = settings.dev_guild_id
    if guild is not None and isinstance(exc, discord.HTTPException) and exc.code in GUILD_CODES:
        fix = "invite the bot there (README, Inviting the bot) or unset DEV_GUILD_ID"
        return ConfigError("DEV_GUILD_ID", f"{guild}: the bot is not in this server: {fix}")
    return None


def _close_on_signals(bot: ImageBot) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: asyncio.ensure_future(bot.close()))


def _ack_trace(services: Services) -> aiohttp.TraceConfig:
    """Times each interaction's first answer (its callback) from the interaction's creation.

    Only the path's interaction id is read (the token beside it never leaves this function).
    """
    trace = aiohttp.TraceConfig()
    metrics, clock = services.ops.metrics, services.clock

    async def on_end(
        session: object, context: object, params: aiohttp.TraceRequestEndParams
    ) -> None:
        parts = params.url.path.rstrip("/").split("/")
        if len(parts) < 4 or parts[-1] != "callback" or parts[-4] != "interactions":
            return
        outcome = "acknowledged" if params.response.status < 300 else "ack_refused"
        metrics.interaction_acks.labels(outcome).inc()
        if outcome == "acknowledged" and parts[-3].isdigit():
            created = discord.utils.snowflake_time(int(parts[-3]))
            metrics.acks.observe(max((clock.now() - created).total_seconds(), 0.0))

    trace.on_request_end.append(on_end)
    return trace
