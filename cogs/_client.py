"""The Discord client: loads the cogs, starts the job queue, serves ops, syncs the commands."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord.ext import commands

from bot.errors import ConfigError
from bot.identify import IdentifyGate
from bot.ops.job_log import JobObserver
from bot.ops.startup import short_reason
from bot.provider.availability import missing_from_provider
from cogs._command_sync import sync_commands, syncs_commands

if TYPE_CHECKING:
    from bot.app import Services

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
    "cogs.operator",
)
# What the bot needs in a channel (README "Inviting the bot"): view, send, embed, attach, history,
# use external emoji, send in threads.
INVITE_PERMISSIONS = 274878024704


class ImageBot(commands.AutoShardedBot):
    """The Discord client: loads the cogs, starts the job queue, syncs commands.

    Sharded always: SHARD_COUNT and SHARD_IDS choose this process's shards; unset, it runs
    every shard of the count Discord recommends (one for a small bot).
    """

    def __init__(self, services: Services, **options: Any) -> None:
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
            **_sharding(services),
            **options,  # e.g. guild_ready_timeout from tests
        )
        self.services = services
        self._models_task: asyncio.Task[None] | None = None
        self._told_ready = False
        self._identify = IdentifyGate(services.db.session_lock, services.clock)

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
        if syncs_commands(self.services.settings.shards):
            await sync_commands(self.tree, self.services.settings, self.services.db)
        else:
            log.info("commands are synced by the process that runs shard 0")

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
        """Whether every shard of this process is connected now, and their mean heartbeat
        round trip if known."""
        shards = self.shards
        expected = self.shard_ids or range(self.shard_count or 0)
        connected = (
            self.is_ready()
            and not self.is_closed()
            and set(shards) == set(expected)
            and not any(shard.is_closed() for shard in shards.values())
        )
        return connected, (self.latency if connected else None)

    async def launch_shards(self) -> None:
        # GET /gateway/bot asked here rather than by discord.py, which would then connect to
        # the URL it names instead of DISCORD_GATEWAY_URL: the recommended shard count (when
        # SHARD_COUNT is unset) and max_concurrency, the IDENTIFY buckets.
        if not self.is_closed():
            count, _, limits = await self.http.get_bot_gateway()
            if self.shard_count is None:
                self.shard_count = count
            self._identify.max_concurrency = limits["max_concurrency"]
            mine = self.services.settings.shard_ids or f"0-{self.shard_count - 1}"
            log.info("connecting shard(s) %s of %d", mine, self.shard_count)
        await super().launch_shards()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # On PostgreSQL other processes may IDENTIFY too: a lock per bucket spaces them all.
        # On SQLite this is the only process, and discord.py's own spacing holds.
        if self.services.db.dialect == "postgresql":
            await self._identify.wait_turn(shard_id or 0)
        else:
            await super().before_identify_hook(shard_id, initial=initial)

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
        line = await self.services.usage.hidden_usage_notice()
        if line is not None:
            log.warning("%s", line)

    async def close(self) -> None:
        if self._models_task is not None:
            self._models_task.cancel()
        await self.services.leadership.stop()
        await self.services.ops.close()
        await self._identify.close()
        await super().close()


def _sharding(services: Services) -> dict[str, Any]:
    """SHARD_COUNT and SHARD_IDS as discord.py takes them; neither: every shard of the count
    GET /gateway/bot recommends."""
    settings, options = services.settings, dict[str, Any]()
    if settings.shard_count is not None:
        options["shard_count"] = settings.shard_count
    if settings.shard_ids is not None:
        options["shard_ids"] = list(settings.shards or ())
    return options


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
