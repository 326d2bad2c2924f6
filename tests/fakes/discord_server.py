"""FakeDiscord: a loopback Discord (REST v10, gateway, CDN) for the real discord.py client.

Usage::

    async with FakeDiscord() as fake:
        fake.patch_discord_py()  # as a `with` block around the bot's lifetime
        guild = fake.add_guild("Test Guild")
        alice = fake.add_member(guild, "alice")
        ... start a commands.Bot with fake.token, then:
        handle = await fake.slash("imagine", {"prompt": "a fox"}, member=alice)
        message = await handle.wait_original(lambda m: m.attachments)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any

import discord
import yarl
from aiohttp import web

from tests.fakes.discord_driver import InteractionDriver
from tests.fakes.discord_forwards import FLAG_FORWARDED, forward_fields, image_embed
from tests.fakes.discord_gateway import GatewayHub
from tests.fakes.discord_interactions import InteractionHandle
from tests.fakes.discord_messages import RecordedFile, RecordedMessage
from tests.fakes.discord_model import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    FakeWorld,
)
from tests.fakes.discord_rest import RestApi
from tests.fakes.discord_rules import Violation
from tests.fakes.discord_state import AdvanceableClock, FakeClock, FakeState, IdentifyRecord

__all__ = [
    "FakeChannel",
    "FakeClock",
    "FakeDiscord",
    "FakeGuild",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "InteractionHandle",
    "RecordedFile",
    "RecordedMessage",
    "Violation",
]

GUILDS, GUILD_MEMBERS, GUILD_MESSAGES = 1 << 0, 1 << 1, 1 << 9
Perms = int | discord.Permissions


def _perm_value(value: Perms) -> int:
    return value.value if isinstance(value, discord.Permissions) else int(value)


class FakeDiscord(InteractionDriver):
    """A loopback Discord on 127.0.0.1 (random port), on the running event loop.

    It answers like Discord, including its refusals (late or double acknowledgements, expired
    tokens, oversized files, too long content or embeds); every refusal is in `violations`.
    """

    def __init__(
        self,
        *,
        token: str = "fake-discord-token",
        bot_name: str = "imagebot",
        clock: AdvanceableClock | None = None,
    ) -> None:
        self.state = FakeState(token=token, bot_name=bot_name, clock=clock)
        self.gateway = GatewayHub(self.state)
        self.state.dispatch = self.gateway.dispatch
        self._rest = RestApi(self.state, self.gateway.handle)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # Lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.state.store.cdn_base = self.base_url
        self._runner = web.AppRunner(self._rest.build_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self.gateway.start()

    async def close(self) -> None:
        await self.gateway.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def token(self) -> str:
        """The bot token the fake accepts (REST `Authorization: Bot ...` and IDENTIFY)."""
        return self.state.token

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"{self.base_url.replace('http://', 'ws://')}/gateway"

    @contextlib.contextmanager
    def patch_discord_py(self) -> Iterator[None]:
        """Point discord.py's REST base and gateway at the fake; restore them afterwards."""
        old_base = discord.http.Route.BASE
        old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    async def wait_connected(self, timeout: float = 5.0) -> None:
        """Until a bot has identified (or resumed) on the gateway."""
        await self.gateway.wait_ready(timeout)

    def hold_hello(self) -> asyncio.Event:
        """Hold HELLO back from new gateway connections until the returned event is set: bots
        that connected meanwhile then start their IDENTIFYs at the same moment."""
        self.gateway.hello_gate = asyncio.Event()
        return self.gateway.hello_gate

    async def wait_shards(self, shards: set[tuple[int, int]], timeout: float = 5.0) -> None:
        """Until every one of these [shard_id, num_shards] has an identified connection."""
        await self.gateway.state.changes.wait_for(
            lambda: shards <= self.gateway.shards(), timeout, f"the shards {sorted(shards)}"
        )

    @property
    def identifies(self) -> list[IdentifyRecord]:
        """Every IDENTIFY accepted: when, which shard, which rate-limit bucket."""
        return self.state.identifies

    def assert_identifies_spaced(self) -> None:
        """No two IDENTIFYs of one bucket came less than 5 s apart (Discord's rule)."""
        if self.gateway.identify_breaches:
            raise AssertionError(f"IDENTIFYs too close: {self.gateway.identify_breaches}")

    async def drop_connections(self, code: int = 4000) -> None:
        """Close gateway sockets; with 4000 discord.py reconnects and RESUMEs."""
        await self.gateway.close_all(code)

    async def refuse_gateway(self, status: int | None = 503) -> None:
        """Answer new gateway connections with `status` (None: accept them again) and drop the
        open ones, as in a Discord outage; discord.py retries with backoff and RESUMEs."""
        self.gateway.refuse_status = status
        if status is not None:
            await self.gateway.close_all(4000)

    # The world ----------------------------------------------------------------------------------

    @property
    def world(self) -> FakeWorld:
        return self.state.world

    @property
    def application_id(self) -> int:
        return self.world.application_id

    @property
    def bot_user(self) -> FakeUser:
        return self.world.bot_user

    def add_guild(
        self,
        name: str = "Test Guild",
        *,
        premium_tier: int = 0,
        filesize_limit: int | None = None,
        everyone_permissions: Perms = DEFAULT_EVERYONE_PERMISSIONS,
        bot_permissions: Perms = DEFAULT_BOT_PERMISSIONS,
        operator: bool = True,
        shard: tuple[int, int] | None = None,
    ) -> FakeGuild:
        """A guild with @everyone, #general, an owner, and the bot holding `bot_permissions`;
        `operator=False`: a stranger's guild, where the application's owner is not a member;
        `shard` (shard_id, num_shards): its id routes it to that shard."""
        guild = self.world.add_guild(
            name,
            premium_tier=premium_tier,
            filesize_limit=filesize_limit,
            everyone_permissions=_perm_value(everyone_permissions),
            bot_permissions=_perm_value(bot_permissions),
            operator=operator,
            shard=shard,
        )
        self.gateway.post("GUILD_CREATE", guild.create_payload(), GUILDS)
        return guild

    def add_channel(self, guild: FakeGuild, name: str, *, type: int = 0) -> FakeChannel:
        channel = self.world.add_channel(guild, name, type=type)
        self.gateway.post("CHANNEL_CREATE", channel.payload(), GUILDS)
        return channel

    def set_overwrite(
        self,
        channel: FakeChannel,
        target: FakeMember | FakeRole,
        *,
        allow: Perms = 0,
        deny: Perms = 0,
    ) -> None:
        """A channel's permission overwrite for a member or a role (CHANNEL_UPDATE)."""
        kind = 1 if isinstance(target, FakeMember) else 0
        channel.overwrites[target.id] = (kind, _perm_value(allow), _perm_value(deny))
        self.gateway.post("CHANNEL_UPDATE", channel.payload(), GUILDS)

    def add_role(self, guild: FakeGuild, name: str, permissions: Perms = 0) -> FakeRole:
        role = self.world.add_role(guild, name, _perm_value(permissions))
        self.gateway.post(
            "GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.payload()}, GUILDS
        )
        return role

    def update_role(self, role: FakeRole, *, permissions: Perms) -> FakeRole:
        """Change a role's permissions (e.g. take Attach Files from the bot's role)."""
        guild = self.world.guild(role.guild_id)
        updated = FakeRole(
            role.id, role.guild_id, role.name, _perm_value(permissions), role.position
        )
        guild.roles[role.id] = updated
        self.gateway.post(
            "GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": updated.payload()}, GUILDS
        )
        return updated

    def add_member(
        self,
        guild: FakeGuild,
        username: str,
        *,
        roles: Iterable[FakeRole] = (),
        global_name: str | None = None,
    ) -> FakeMember:
        member = self.world.add_member(guild, username, roles=list(roles), global_name=global_name)
        self.gateway.post(
            "GUILD_MEMBER_ADD", {**member.payload(), "guild_id": str(guild.id)}, GUILD_MEMBERS
        )
        return member

    def set_roles(self, member: FakeMember, roles: Iterable[FakeRole]) -> None:
        member.role_ids = [r.id for r in roles]
        data = {**member.payload(), "guild_id": str(member.guild_id)}
        self.gateway.post("GUILD_MEMBER_UPDATE", data, GUILD_MEMBERS)

    def register_commands(
        self, commands: list[dict[str, Any]], guild: FakeGuild | None = None
    ) -> list[dict[str, Any]]:
        """Store a command schema as if synced, for a bot that skips syncing (unchanged set).

        Build it with `[c.to_dict(bot.tree) for c in bot.tree.get_commands()]`.
        """
        return self.state.commands.put(None if guild is None else guild.id, commands)

    def bot_role(self, guild: FakeGuild) -> FakeRole:
        return guild.roles[self.world.bot_member(guild.id).role_ids[0]]

    def _where(
        self, guild: FakeGuild | None, channel: FakeChannel | None
    ) -> tuple[FakeGuild, FakeChannel]:
        if guild is None:
            guild = self.world.guild(channel.guild_id) if channel else self.world.only_guild()
        return guild, channel or guild.text_channels[0]

    # Files and user messages ----------------------------------------------------------------------

    def add_attachment(
        self, filename: str, data: bytes, content_type: str | None = None
    ) -> dict[str, Any]:
        """An uploaded file served by the fake CDN; pass it as an attachment option's value."""
        file = self.state.store.add_file(
            filename,
            data,
            folder="ephemeral-attachments/0",
            content_type=content_type,
            ephemeral=True,
        )
        return file.payload()

    async def post_message(
        self,
        member: FakeMember,
        content: str = "",
        *,
        channel: FakeChannel | None = None,
        files: Iterable[tuple[str, bytes]] = (),
        links: Iterable[tuple[str, bytes]] = (),
    ) -> RecordedMessage:
        """A message a member posts (e.g. images to target with a message context menu).

        `links` are (URL, image bytes): each URL goes in the content and unfurls into an image
        embed whose picture the fake's media proxy serves.
        """
        guild, channel = self._where(self.world.guild(member.guild_id), channel)
        message = RecordedMessage(self.state.ids.next(), channel.id, guild.id, member.user)
        uploaded = [
            self.state.store.add_file(name, data, folder=f"attachments/{channel.id}")
            for name, data in files
        ]
        embeds = []
        for link, data in links:
            name = yarl.URL(link).name or "image"
            proxied = self.state.store.add_file(name, data, folder="external")
            embeds.append(image_embed(link, proxied))
            content = f"{content} {link}".strip()
        payload = {"content": content, "embeds": embeds}
        self.state.store.create(message, payload, uploaded)
        await self.gateway.dispatch("MESSAGE_CREATE", message.payload(), GUILD_MESSAGES)
        return message

    async def forward_message(
        self, member: FakeMember, original: RecordedMessage, *, channel: FakeChannel | None = None
    ) -> RecordedMessage:
        """`member` forwards `original` (Forward in the message menu) into `channel`."""
        guild, channel = self._where(self.world.guild(member.guild_id), channel)
        message = RecordedMessage(self.state.ids.next(), channel.id, guild.id, member.user)
        message.flags = FLAG_FORWARDED
        message.extra.update(forward_fields(original))
        self.state.store.create(message, {"content": ""}, [])
        await self.gateway.dispatch("MESSAGE_CREATE", message.payload(), GUILD_MESSAGES)
        return message
