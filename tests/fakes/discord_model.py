"""The fake Discord's world: snowflakes, users, guilds, roles, channels, members, permissions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import discord

DISCORD_EPOCH_MS = 1_420_070_400_000
MiB = 1024 * 1024
DEFAULT_FILESIZE_LIMIT = 10 * MiB
ADMINISTRATOR = discord.Permissions(administrator=True).value
ALL_PERMISSIONS = discord.Permissions.all().value
DEFAULT_EVERYONE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    add_reactions=True,
    use_application_commands=True,
    use_external_emojis=True,
    create_instant_invite=True,
    change_nickname=True,
).value
DEFAULT_BOT_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    use_application_commands=True,
).value
# Discord's per-file upload limit by boost tier (discord.py Guild._PREMIUM_GUILD_LIMITS).
TIER_FILESIZE = {0: DEFAULT_FILESIZE_LIMIT, 1: DEFAULT_FILESIZE_LIMIT, 2: 50 * MiB, 3: 100 * MiB}
JOINED_AT = "2024-01-01T00:00:00+00:00"


class Snowflakes:
    """Unique, increasing ids from the wall time (discord.py derives dates from them); `wall`
    gives Unix seconds, the test's clock when it has one, so ids and the bot agree on the date."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._last = 0
        self._wall = wall

    def next(self) -> int:
        candidate = (int(self._wall() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(candidate, self._last + 1)
        return self._last

    def next_on_shard(self, shard_id: int, num_shards: int) -> int:
        """The next id whose guild Discord routes to `shard_id` of `num_shards`: its timestamp
        moved on by under `num_shards` milliseconds
        (https://discord.com/developers/docs/events/gateway#sharding-sharding-formula)."""
        stamp = self.next() >> 22
        stamp += (shard_id - stamp) % num_shards
        self._last = max(self._last, stamp << 22)
        return self._last


@dataclass(frozen=True, slots=True)
class FakeUser:
    """A Discord user (a member's account, or the bot's)."""

    id: int
    username: str
    global_name: str | None = None
    bot: bool = False

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass(frozen=True, slots=True)
class FakeRole:
    """A guild role; the @everyone role has the guild's id."""

    id: int
    guild_id: int
    name: str
    permissions: int
    position: int

    @property
    def is_everyone(self) -> bool:
        return self.id == self.guild_id

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }


@dataclass(frozen=True, slots=True)
class FakeChannel:
    """A guild channel (type 0 = text)."""

    id: int
    guild_id: int
    name: str
    type: int = 0
    position: int = 0
    # Permission overwrites by role or member id: (type 0 role / 1 member, allow, deny).
    overwrites: dict[int, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "guild_id": str(self.guild_id),
            "type": self.type,
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [
                {"id": str(k), "type": t, "allow": str(a), "deny": str(d)}
                for k, (t, a, d) in self.overwrites.items()
            ],
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
        }


@dataclass(slots=True)
class FakeMember:
    """A user's membership in a guild; `role_ids` excludes @everyone (as on Discord)."""

    user: FakeUser
    guild_id: int
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def mention(self) -> str:
        return self.user.mention

    def payload(self, permissions: int | None = None) -> dict[str, Any]:
        """The member object; `permissions` is added as interactions carry it."""
        data: dict[str, Any] = {
            "user": self.user.payload(),
            "roles": [str(r) for r in self.role_ids],
            "nick": self.nick,
            "joined_at": JOINED_AT,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
        }
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass(slots=True)
class FakeGuild:
    """A guild with its roles, channels and members; permissions follow Discord's rules."""

    id: int
    name: str
    owner_id: int
    premium_tier: int = 0
    filesize_limit: int = DEFAULT_FILESIZE_LIMIT
    roles: dict[int, FakeRole] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)

    @property
    def everyone(self) -> FakeRole:
        return self.roles[self.id]

    @property
    def text_channels(self) -> list[FakeChannel]:
        return sorted((c for c in self.channels.values() if c.type == 0), key=lambda c: c.position)

    def permissions_for(self, member: FakeMember) -> int:
        """OR of @everyone and the member's roles; owner and Administrator get everything."""
        if member.id == self.owner_id:
            return ALL_PERMISSIONS
        value = self.everyone.permissions
        for role_id in member.role_ids:
            value |= self.roles[role_id].permissions
        return ALL_PERMISSIONS if value & ADMINISTRATOR else value

    def permissions_in(self, channel: FakeChannel, member: FakeMember) -> int:
        """The member's permissions in a channel: the guild's, then the channel's overwrites for
        @everyone, the member's roles and the member, in Discord's order
        (https://discord.com/developers/docs/topics/permissions#permission-overwrites)."""
        value = self.permissions_for(member)
        if value == ALL_PERMISSIONS:
            return value
        everyone = channel.overwrites.get(self.id)
        if everyone is not None:
            value = (value & ~everyone[2]) | everyone[1]
        allow = deny = 0
        for role_id in member.role_ids:
            _, role_allow, role_deny = channel.overwrites.get(role_id, (0, 0, 0))
            allow, deny = allow | role_allow, deny | role_deny
        value = (value & ~deny) | allow
        own = channel.overwrites.get(member.id)
        if own is not None:
            value = (value & ~own[2]) | own[1]
        return value

    def on_shard(self, shard_id: int, num_shards: int) -> bool:
        """Whether Discord sends this guild's events to that shard (the sharding formula)."""
        return (self.id >> 22) % num_shards == shard_id

    def create_payload(self) -> dict[str, Any]:
        """The GUILD_CREATE body (member_count == len(members) so the guild counts as chunked)."""
        return {
            "id": str(self.id),
            "name": self.name,
            "unavailable": False,
            "owner_id": str(self.owner_id),
            "icon": None,
            "member_count": len(self.members),
            "large": False,
            "premium_tier": self.premium_tier,
            "features": [],
            "emojis": [],
            "stickers": [],
            "preferred_locale": "en-US",
            "roles": [r.payload() for r in self.roles.values()],
            "channels": [c.payload() for c in self.channels.values()],
            "members": [m.payload() for m in self.members.values()],
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


class FakeWorld:
    """Every guild, user and channel the fake knows, plus the bot's own user and application."""

    def __init__(self, snowflakes: Snowflakes, *, bot_name: str = "imagebot") -> None:
        self.ids = snowflakes
        self.application_id = snowflakes.next()
        self.bot_user = FakeUser(self.application_id, bot_name, None, bot=True)
        self.owner_user = FakeUser(snowflakes.next(), "app-owner", "App Owner")
        self.guilds: dict[int, FakeGuild] = {}
        # Direct messages: the DM channel's id by user, and users who accept none from the bot
        # (no shared server allows it, or they turned server DMs off: error 50007).
        self.dm_channels: dict[int, int] = {}
        self.closed_dms: set[int] = set()
        self.users: dict[int, FakeUser] = {
            self.bot_user.id: self.bot_user,
            self.owner_user.id: self.owner_user,
        }

    def new_user(
        self, username: str, global_name: str | None = None, bot: bool = False
    ) -> FakeUser:
        user = FakeUser(self.ids.next(), username, global_name, bot)
        self.users[user.id] = user
        return user

    def guild(self, guild_id: int) -> FakeGuild:
        return self.guilds[guild_id]

    def channel(self, channel_id: int) -> FakeChannel | None:
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild.channels[channel_id]
        return None

    def bot_member(self, guild_id: int) -> FakeMember:
        return self.guilds[guild_id].members[self.bot_user.id]

    def bot_permissions(self, guild_id: int) -> int:
        guild = self.guilds[guild_id]
        return guild.permissions_for(guild.members[self.bot_user.id])

    def only_guild(self) -> FakeGuild:
        """The single guild, for tests that do not name one."""
        if len(self.guilds) != 1:
            raise AssertionError(f"name the guild: the fake has {len(self.guilds)} guilds")
        return next(iter(self.guilds.values()))

    def add_guild(
        self,
        name: str,
        *,
        premium_tier: int = 0,
        filesize_limit: int | None = None,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        operator: bool = True,
        shard: tuple[int, int] | None = None,
    ) -> FakeGuild:
        """A guild with @everyone, a #general channel, an owner and the bot (with its own role);
        `operator`: the application's owner is a member too (the operator's own server);
        `shard` (shard_id, num_shards): an id that Discord routes to that shard."""
        guild_id = self.ids.next() if shard is None else self.ids.next_on_shard(*shard)
        owner = self.new_user(f"owner{guild_id % 10_000}", "Guild Owner")
        limit = filesize_limit if filesize_limit is not None else TIER_FILESIZE[premium_tier]
        guild = FakeGuild(guild_id, name, owner.id, premium_tier, limit)
        guild.roles[guild_id] = FakeRole(guild_id, guild_id, "@everyone", everyone_permissions, 0)
        self.guilds[guild_id] = guild
        self.add_channel(guild, "general")
        guild.members[owner.id] = FakeMember(owner, guild_id)
        if operator:
            guild.members[self.owner_user.id] = FakeMember(self.owner_user, guild_id)
        bot_role = self.add_role(guild, self.bot_user.username, bot_permissions)
        guild.members[self.bot_user.id] = FakeMember(self.bot_user, guild_id, [bot_role.id])
        return guild

    def add_channel(self, guild: FakeGuild, name: str, *, type: int = 0) -> FakeChannel:
        channel = FakeChannel(self.ids.next(), guild.id, name, type, len(guild.channels))
        guild.channels[channel.id] = channel
        return channel

    def add_role(self, guild: FakeGuild, name: str, permissions: int = 0) -> FakeRole:
        role = FakeRole(self.ids.next(), guild.id, name, permissions, len(guild.roles))
        guild.roles[role.id] = role
        return role

    def add_member(
        self,
        guild: FakeGuild,
        username: str,
        *,
        roles: list[FakeRole] | None = None,
        global_name: str | None = None,
        bot: bool = False,
    ) -> FakeMember:
        user = self.new_user(username, global_name, bot)
        member = FakeMember(user, guild.id, [r.id for r in roles or []])
        for role in roles or []:
            if role.guild_id != guild.id or role.is_everyone:
                raise AssertionError(f"role {role.name!r} cannot be given in guild {guild.name!r}")
        guild.members[user.id] = member
        return member
