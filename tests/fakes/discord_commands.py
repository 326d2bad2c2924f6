"""Synced application commands, and interaction options built and checked against that schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.discord_messages import RecordedFile
from tests.fakes.discord_model import (
    ALL_PERMISSIONS,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    Snowflakes,
)

SUBCOMMAND, GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = (
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
)
CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND = 1, 2, 3


@dataclass(slots=True)
class CommandRegistry:
    """What the bot registered with PUT .../commands: global and per guild, ids kept per name."""

    ids: Snowflakes
    application_id: int
    global_commands: list[dict[str, Any]] = field(default_factory=list)
    guild_commands: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    sync_log: list[tuple[int | None, list[dict[str, Any]]]] = field(default_factory=list)
    _known_ids: dict[tuple[int | None, str, int], int] = field(default_factory=dict)

    def put(self, guild_id: int | None, body: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the scope's commands (bulk overwrite) and return them with ids, like Discord."""
        self.sync_log.append((guild_id, body))
        stored = []
        for command in body:
            key = (guild_id, command["name"], int(command.get("type", CHAT_INPUT)))
            command_id = self._known_ids.setdefault(key, self.ids.next())
            entry = {
                "description": "",  # context menus have none; Discord answers ""
                **command,
                "id": str(command_id),
                "application_id": str(self.application_id),
                "version": str(self.ids.next()),
                "type": key[2],
            }
            if guild_id is not None:
                entry["guild_id"] = str(guild_id)
            stored.append(entry)
        if guild_id is None:
            self.global_commands = stored
        else:
            self.guild_commands[guild_id] = stored
        return stored

    def listed(self, guild_id: int | None) -> list[dict[str, Any]]:
        return self.global_commands if guild_id is None else self.guild_commands.get(guild_id, [])

    def find(self, name: str, type: int, guild_id: int) -> tuple[dict[str, Any], bool]:
        """The command a member of this guild would see, and whether it is guild-scoped."""
        for scoped, commands in (
            (True, self.guild_commands.get(guild_id, [])),
            (False, self.global_commands),
        ):
            for command in commands:
                if command["name"] == name and command["type"] == type:
                    return command, scoped
        known = [c["name"] for c in self.global_commands + self.guild_commands.get(guild_id, [])]
        raise AssertionError(f"command {name!r} (type {type}) was never synced; synced: {known}")


OptionValue = Any


@dataclass(slots=True)
class OptionBuilder:
    """Test values as Discord's typed options plus `resolved`; refuses what no client can send."""

    guild: FakeGuild
    command_name: str
    member_permissions: int
    resolved: dict[str, dict[str, Any]] = field(default_factory=dict)

    def build(
        self,
        schema: list[dict[str, Any]],
        values: Mapping[str, OptionValue],
        *,
        focused: str | None = None,
    ) -> list[dict[str, Any]]:
        """Options for one (sub)command level; `focused` marks the autocomplete option."""
        by_name = {o["name"]: o for o in schema}
        for name in values:
            if name not in by_name:
                raise AssertionError(
                    f"/{self.command_name} has no option {name!r}; options: {sorted(by_name)}"
                )
        if focused is None:
            missing = [o["name"] for o in schema if o.get("required") and o["name"] not in values]
            if missing:
                raise AssertionError(f"/{self.command_name}: required options missing: {missing}")
        options = []
        for name, value in values.items():
            spec = by_name[name]
            if name == focused:
                if not spec.get("autocomplete"):
                    raise AssertionError(
                        f"/{self.command_name} option {name!r} has no autocomplete"
                    )
                options.append(
                    {"name": name, "type": spec["type"], "value": str(value), "focused": True}
                )
            else:
                options.append(
                    {"name": name, "type": spec["type"], "value": self._value(spec, value)}
                )
        return options

    def _value(self, spec: dict[str, Any], value: OptionValue) -> Any:
        kind = int(spec["type"])
        where = f"/{self.command_name} option {spec['name']!r}"
        if kind in (STRING, INTEGER, NUMBER, BOOLEAN):
            _check_scalar(spec, value, where)
            return value
        if kind == ATTACHMENT:
            return self._attachment(value, where)
        if kind in (USER, MENTIONABLE) and isinstance(value, FakeMember | FakeUser):
            return self._user(value)
        if kind in (ROLE, MENTIONABLE) and isinstance(value, FakeRole):
            self.resolved.setdefault("roles", {})[str(value.id)] = value.payload()
            return str(value.id)
        if kind == CHANNEL and isinstance(value, FakeChannel):
            types = spec.get("channel_types")
            if types and value.type not in types:
                raise AssertionError(f"{where}: channel type {value.type} not in {types}")
            data = {**value.payload(), "permissions": str(self.member_permissions)}
            self.resolved.setdefault("channels", {})[str(value.id)] = data
            return str(value.id)
        raise AssertionError(f"{where} (type {kind}) cannot take {value!r}")

    def _user(self, value: FakeMember | FakeUser) -> str:
        user = value.user if isinstance(value, FakeMember) else value
        self.resolved.setdefault("users", {})[str(user.id)] = user.payload()
        member = value if isinstance(value, FakeMember) else self.guild.members.get(user.id)
        if member is not None:
            data = member.payload(self.guild.permissions_for(member))
            del data["user"]
            self.resolved.setdefault("members", {})[str(user.id)] = data
        return str(user.id)

    def _attachment(self, value: OptionValue, where: str) -> str:
        if isinstance(value, RecordedFile):
            data = value.payload()
        elif isinstance(value, dict) and "id" in value and "url" in value:
            data = value
        else:
            raise AssertionError(
                f"{where} needs fake.add_attachment(...) or a RecordedFile, got {value!r}"
            )
        self.resolved.setdefault("attachments", {})[str(data["id"])] = data
        return str(data["id"])


def _check_scalar(spec: dict[str, Any], value: Any, where: str) -> None:
    """Discord's client enforces types, choices and ranges; a test must not send what it can't."""
    kind = int(spec["type"])
    ok = {
        STRING: isinstance(value, str),
        INTEGER: isinstance(value, int) and not isinstance(value, bool),
        NUMBER: isinstance(value, int | float) and not isinstance(value, bool),
        BOOLEAN: isinstance(value, bool),
    }[kind]
    if not ok:
        raise AssertionError(f"{where} (type {kind}) cannot take {value!r}")
    choices = spec.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        raise AssertionError(f"{where}: {value!r} is not one of {[c['value'] for c in choices]}")
    if kind == STRING:
        low, high = spec.get("min_length", 0), spec.get("max_length", 6000)
        if not low <= len(value) <= high:
            raise AssertionError(f"{where}: length {len(value)} outside {low}..{high}")
    elif kind != BOOLEAN:
        low, high = spec.get("min_value"), spec.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            raise AssertionError(f"{where}: {value!r} outside {low}..{high}")


def split_subcommand(
    command: dict[str, Any], subcommand: str | None
) -> tuple[list[str], list[dict[str, Any]]]:
    """The path ("group sub" or "sub") and the schema of the leaf's options."""
    schema = command.get("options") or []
    has_children = any(o["type"] in (SUBCOMMAND, GROUP) for o in schema)
    if not has_children:
        if subcommand:
            raise AssertionError(f"/{command['name']} has no subcommands")
        return [], schema
    if not subcommand:
        names = [o["name"] for o in schema]
        raise AssertionError(f"/{command['name']} needs a subcommand, one of {names}")
    path = subcommand.split()
    for part in path:
        found = [o for o in schema if o["name"] == part and o["type"] in (SUBCOMMAND, GROUP)]
        if not found:
            raise AssertionError(f"/{command['name']} has no subcommand {subcommand!r}")
        schema = found[0].get("options") or []
    return path, schema


def wrap_subcommand(
    command: dict[str, Any], path: list[str], options: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Nest leaf options under their subcommand (type 1) and group (type 2)."""
    if not path:
        return options
    wrapped = [{"name": path[-1], "type": SUBCOMMAND, "options": options}]
    if len(path) == 2:
        wrapped = [{"name": path[0], "type": GROUP, "options": wrapped}]
    return wrapped


def check_default_permissions(command: dict[str, Any], permissions: int) -> None:
    """A member without `default_member_permissions` does not see the command in the client."""
    required = command.get("default_member_permissions")
    if required is None:
        return
    needed = int(required)
    # "0" means nobody but administrators (who hold every bit).
    if (needed == 0 and permissions != ALL_PERMISSIONS) or permissions & needed != needed:
        raise AssertionError(
            f"/{command['name']} needs permissions {needed:#x}; a member with {permissions:#x} "
            "cannot see it (pass override_permissions=True to simulate an admin override)"
        )
