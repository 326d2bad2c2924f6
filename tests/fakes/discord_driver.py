"""The test's hands on the fake Discord: slash commands, context menus, clicks, modals, waiting."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from tests.fakes.discord_commands import (
    CHAT_INPUT,
    MESSAGE_COMMAND,
    OptionBuilder,
    check_default_permissions,
    split_subcommand,
    wrap_subcommand,
)
from tests.fakes.discord_gateway import GatewayHub
from tests.fakes.discord_interactions import (
    InteractionHandle,
    MessagePredicate,
    ModalValue,
    check_member,
    interaction_payload,
    modal_answers,
    modal_resolved,
)
from tests.fakes.discord_messages import RecordedMessage
from tests.fakes.discord_model import FakeChannel, FakeGuild, FakeMember
from tests.fakes.discord_rules import Violation
from tests.fakes.discord_state import FakeState, InteractionRecord, RecordedRequest

T = TypeVar("T")
APPLICATION_COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5


class InteractionDriver:
    """Mixin of FakeDiscord: sends INTERACTION_CREATE like a Discord client would, and waits."""

    state: FakeState
    gateway: GatewayHub

    def _where(
        self, guild: FakeGuild | None, channel: FakeChannel | None
    ) -> tuple[FakeGuild, FakeChannel]:
        raise NotImplementedError

    # Sending interactions -------------------------------------------------------------------------

    async def slash(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        member: FakeMember,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        subcommand: str | None = None,
        attachments: Mapping[str, Any] | None = None,
        attachment_size_limit: int | None = None,
        override_permissions: bool = False,
    ) -> InteractionHandle:
        """A chat-input command, typed and checked against the schema the bot synced.

        `subcommand` is "sub" or "group sub"; attachment options take `add_attachment(...)`
        results, in `options` or `attachments`. Refuses (AssertionError) what no client can send.
        """
        guild, channel = self._where(guild, channel)
        command, scoped = self.state.commands.find(name, CHAT_INPUT, guild.id)
        perms = guild.permissions_for(member)
        if not override_permissions:
            check_default_permissions(command, perms)
        path, schema = split_subcommand(command, subcommand)
        builder = OptionBuilder(guild, name, perms)
        built = builder.build(schema, {**(options or {}), **(attachments or {})})
        data = self._command_data(command, scoped, guild, wrap_subcommand(command, path, built))
        if builder.resolved:
            data["resolved"] = builder.resolved
        return await self._interact(
            APPLICATION_COMMAND, data, guild, channel, member, limit=attachment_size_limit
        )

    async def autocomplete(
        self,
        name: str,
        option: str,
        value: str,
        *,
        member: FakeMember,
        options: Mapping[str, Any] | None = None,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        subcommand: str | None = None,
    ) -> InteractionHandle:
        """The member typing `value` into `option`; the bot's choices land in `handle.choices`."""
        guild, channel = self._where(guild, channel)
        command, scoped = self.state.commands.find(name, CHAT_INPUT, guild.id)
        path, schema = split_subcommand(command, subcommand)
        builder = OptionBuilder(guild, name, guild.permissions_for(member))
        built = builder.build(schema, {**(options or {}), option: value}, focused=option)
        data = self._command_data(command, scoped, guild, wrap_subcommand(command, path, built))
        return await self._interact(AUTOCOMPLETE, data, guild, channel, member)

    async def context_menu(
        self,
        name: str,
        message: RecordedMessage,
        *,
        member: FakeMember,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        attachment_size_limit: int | None = None,
    ) -> InteractionHandle:
        """A message command (right-click > Apps > name) on a recorded message."""
        if message.deleted or message.ephemeral:
            raise AssertionError("a deleted or ephemeral message cannot be targeted")
        guild = guild or self.state.world.guild(message.guild_id or 0)
        channel = channel or guild.channels[message.channel_id]
        command, scoped = self.state.commands.find(name, MESSAGE_COMMAND, guild.id)
        check_default_permissions(command, guild.permissions_for(member))
        data = self._command_data(command, scoped, guild, None)
        data["target_id"] = str(message.id)
        data["resolved"] = {"messages": {str(message.id): message.payload()}}
        return await self._interact(
            APPLICATION_COMMAND, data, guild, channel, member, limit=attachment_size_limit, kind=23
        )

    async def click(
        self,
        message: RecordedMessage,
        *,
        member: FakeMember,
        label: str | None = None,
        custom_id: str | None = None,
    ) -> InteractionHandle:
        """Press a button of a recorded message; custom_id comes from the stored components."""
        button = self._component(message, label, custom_id, kind=2)
        data = {"custom_id": button["custom_id"], "component_type": 2}
        return await self._component_interaction(message, member, data)

    async def select(
        self,
        message: RecordedMessage,
        values: list[str],
        *,
        member: FakeMember,
        custom_id: str | None = None,
    ) -> InteractionHandle:
        """Choose `values` in a string select menu of a recorded message."""
        menu = self._component(message, None, custom_id, kind=3)
        allowed = [o["value"] for o in menu.get("options") or []]
        if any(v not in allowed for v in values):
            raise AssertionError(f"select offers {allowed}, not {values}")
        data = {"custom_id": menu["custom_id"], "component_type": 3, "values": values}
        return await self._component_interaction(message, member, data)

    async def submit_modal(
        self,
        handle: InteractionHandle,
        values: Mapping[str, ModalValue],
        *,
        member: FakeMember | None = None,
    ) -> InteractionHandle:
        """Fill and submit the modal the bot answered `handle` with (keys: custom_ids or labels)."""
        modal = handle.modal
        if modal is None:
            raise AssertionError(f"interaction {handle.id} was not answered with a modal")
        source = handle.record.source_message
        data = {"custom_id": modal["custom_id"], "components": modal_answers(modal, values)}
        resolved = modal_resolved(values)  # files answered to File Upload components
        if resolved:
            data["resolved"] = resolved
        return await self._interact(
            MODAL_SUBMIT,
            data,
            handle.record.guild,
            handle.record.channel,
            member or handle.record.member,
            source=source,
            kind=19,
        )

    # Internals ----------------------------------------------------------------------------------

    def _command_data(
        self,
        command: dict[str, Any],
        scoped: bool,
        guild: FakeGuild,
        options: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": command["type"],
        }
        if options is not None:
            data["options"] = options
        if scoped:  # discord.py looks commands up by name plus data.guild_id
            data["guild_id"] = str(guild.id)
        return data

    def _component(
        self, message: RecordedMessage, label: str | None, custom_id: str | None, *, kind: int
    ) -> dict[str, Any]:
        if message.deleted:
            raise AssertionError(f"message {message.id} was deleted")
        component = message.find_component(label=label, custom_id=custom_id)
        if component.get("type") != kind or component.get("disabled"):
            raise AssertionError(f"component {component} is not an enabled type {kind}")
        return component

    async def _component_interaction(
        self, message: RecordedMessage, member: FakeMember, data: dict[str, Any]
    ) -> InteractionHandle:
        guild = self.state.world.guild(message.guild_id or 0)
        channel = guild.channels[message.channel_id]
        return await self._interact(
            COMPONENT, data, guild, channel, member, source=message, kind=19
        )

    async def _interact(
        self,
        type: int,
        data: dict[str, Any],
        guild: FakeGuild,
        channel: FakeChannel,
        member: FakeMember,
        *,
        limit: int | None = None,
        source: RecordedMessage | None = None,
        kind: int = 20,
    ) -> InteractionHandle:
        """Register and dispatch one INTERACTION_CREATE; `kind`: the type of messages it creates."""
        check_member(guild, channel, member)
        await self.gateway.wait_ready(5.0)
        interaction_id = self.state.ids.next()
        record = InteractionRecord(
            id=interaction_id,
            token=f"itok-{interaction_id}-{secrets.token_urlsafe(24)}",
            type=type,
            guild=guild,
            channel=channel,
            member=member,
            attachment_size_limit=limit if limit is not None else guild.filesize_limit,
            payload={},
            message_type=kind,
            source_message=source,
        )
        record.payload = interaction_payload(self.state, record, data, source)
        self.state.register(record)
        record.dispatched_at = time.monotonic()
        record.created_fake = self.state.clock.monotonic()
        if not await self.gateway.dispatch("INTERACTION_CREATE", record.payload):
            raise AssertionError("no bot is connected to the fake gateway")
        return InteractionHandle(record, self.state)

    # Records and waiting --------------------------------------------------------------------------

    @property
    def messages(self) -> list[RecordedMessage]:
        """Every message ever created, in order (deleted ones have `deleted=True`)."""
        return list(self.state.store)

    def channel_messages(self, channel: FakeChannel) -> list[RecordedMessage]:
        """What members see in the channel: not deleted, not ephemeral; oldest first."""
        return self.state.store.channel_history(channel.id)

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.state.requests

    @property
    def violations(self) -> list[Violation]:
        """Every request the fake refused as Discord would (status, code, path, interaction)."""
        return self.state.violations

    def assert_no_violations(self) -> None:
        if self.state.violations:
            raise AssertionError(f"the bot broke Discord's rules: {self.state.violations}")

    def synced_commands(self, guild: FakeGuild | None = None) -> list[dict[str, Any]]:
        """The commands as registered (bodies of the PUTs, with ids), global or for one guild."""
        return self.state.commands.listed(None if guild is None else guild.id)

    async def wait_until(
        self,
        probe: Callable[[], T | None],
        timeout: float = 5.0,
        what: str = "",
    ) -> T:
        """Re-check `probe` whenever the fake's state changes; its first truthy result."""
        return await self.state.changes.wait_for(probe, timeout, what or "a condition")

    async def wait_for_message(
        self,
        predicate: MessagePredicate,
        timeout: float = 5.0,
    ) -> RecordedMessage:
        """The first live message for which `predicate` holds (re-checked after every edit)."""

        def probe() -> RecordedMessage | None:
            return next((m for m in self.state.store if not m.deleted and predicate(m)), None)

        return await self.wait_until(probe, timeout, "a matching message")

    def advance(self, seconds: float) -> None:
        """Move the fake's token clock (15-minute rule); the 3-second rule stays real time."""
        self.state.clock.advance(seconds)
