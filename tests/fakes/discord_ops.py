"""What the fake does for each REST call, under Discord's interaction, webhook and message rules."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from tests.fakes.discord_messages import PlanItem, RecordedMessage, Upload, plan_attachments
from tests.fakes.discord_model import DEFAULT_FILESIZE_LIMIT as DM_FILESIZE_LIMIT
from tests.fakes.discord_rules import (
    FLAG_COMPONENTS_V2,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    DiscordError,
    already_acknowledged,
    check_choices,
    check_files,
    check_message,
    check_modal,
    invalid_form,
    invalid_webhook_token,
    missing_permissions,
    unknown_channel,
    unknown_interaction,
    unknown_message,
    unknown_webhook,
)
from tests.fakes.discord_state import CallbackRecord, FakeState, InteractionRecord

GUILD_MESSAGES = 1 << 9
# Interaction type -> callback types Discord accepts for it.
ALLOWED_CALLBACKS = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}
# Flags a bot may set on a message (ephemeral, suppress embeds/notifications, components v2).
SETTABLE_FLAGS = FLAG_EPHEMERAL | 4 | 4096 | FLAG_COMPONENTS_V2
VIEW_CHANNEL, SEND_MESSAGES, MANAGE_MESSAGES, ATTACH_FILES = 1 << 10, 1 << 11, 1 << 13, 1 << 15


def plan_upload(
    existing: Sequence[Any], data: dict[str, Any], uploads: Sequence[Upload], limit: int
) -> list[PlanItem]:
    """The message's attachments after this request, refused past 10 files or the size limit."""
    plan = plan_attachments(existing, data.get("attachments"), uploads)
    new = [(item[0].filename, len(item[0].data)) for item in plan if isinstance(item, tuple)]
    check_files(new, len(plan) - len(new), limit)
    return plan


class InteractionOps:
    """Initial responses (callbacks) and the interaction webhook (@original, followups)."""

    def __init__(self, state: FakeState) -> None:
        self.state = state

    async def callback(
        self, interaction_id: int, token: str, body: dict[str, Any], uploads: list[Upload]
    ) -> dict[str, Any]:
        record = self.state.interactions.get(interaction_id)
        if record is None or record.token != token:
            raise unknown_interaction()
        call = CallbackRecord(
            type=int(body.get("type", 0)),
            data=body.get("data") or {},
            files=uploads,
            latency=time.monotonic() - record.dispatched_at,
        )
        record.callbacks.append(call)
        try:
            if record.invalidated:
                raise unknown_interaction()
            if record.response is not None:
                raise already_acknowledged()
            if self.state.late(record):
                record.invalidated = True  # Discord drops the token after the 3 s deadline
                raise unknown_interaction()
            result = await self._respond(record, call)
        except DiscordError as error:
            call.error = error
            self.state.changes.notify()
            raise
        call.accepted = True
        record.response = call
        self.state.changes.notify()
        return result

    async def _respond(self, record: InteractionRecord, call: CallbackRecord) -> dict[str, Any]:
        kind, data = call.type, call.data
        if kind not in ALLOWED_CALLBACKS.get(record.type, set()):
            raise invalid_form(["type"], "INTERACTION_RESPONSE_TYPE_INVALID", str(kind))
        message: RecordedMessage | None = None
        if kind == 4:
            message = await self._create(record, data, call.files, int(data.get("flags") or 0))
        elif kind == 5:
            flags = FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL)
            message = await self._create(record, {}, [], flags, loading=True)
        elif kind in (6, 7):
            message = record.source_message
            if message is None:
                raise invalid_form(["type"], "INTERACTION_RESPONSE_TYPE_INVALID", str(kind))
            record.original = message
            if kind == 7:
                await self._edit(record, message, data, call.files)
        elif kind == 8:
            check_choices(data.get("choices") or [])
            record.choices = list(data.get("choices") or [])
        else:
            check_modal(data)
            record.modal = data
        return self._callback_reply(record, kind, message)

    def _callback_reply(
        self, record: InteractionRecord, kind: int, message: RecordedMessage | None
    ) -> dict[str, Any]:
        interaction: dict[str, Any] = {"id": str(record.id), "type": record.type}
        resource: dict[str, Any] = {"type": kind}
        if message is not None:
            interaction["response_message_id"] = str(message.id)
            interaction["response_message_loading"] = kind == 5
            interaction["response_message_ephemeral"] = message.ephemeral
            if kind in (4, 7):
                resource["message"] = message.payload()
        return {"interaction": interaction, "resource": resource}

    async def _create(
        self,
        record: InteractionRecord,
        data: dict[str, Any],
        uploads: list[Upload],
        flags: int,
        *,
        loading: bool = False,
    ) -> RecordedMessage:
        if not loading:
            plan = plan_upload([], data, uploads, record.attachment_size_limit)
            check_message(data, creating=True, has_files=bool(plan))
        else:
            plan = []
        message = RecordedMessage(
            id=self.state.ids.next(),
            channel_id=record.channel.id,
            guild_id=record.guild.id,
            author=self.state.world.bot_user,
            type=record.message_type,
            flags=flags if loading else flags & SETTABLE_FLAGS,
            interaction_id=record.id,
            webhook_id=self.state.world.application_id,
            extra={"interaction_metadata": _metadata(record)},
        )
        self.state.store.create(message, data, plan)
        if record.original is None:
            record.original = message
        else:
            record.followups.append(message)
        await _announce(self.state, "MESSAGE_CREATE", message)
        return message

    async def _edit(
        self,
        record: InteractionRecord,
        message: RecordedMessage,
        data: dict[str, Any],
        uploads: list[Upload],
    ) -> None:
        plan = plan_upload(message.attachments, data, uploads, record.attachment_size_limit)
        check_message(data, creating=False, has_files=bool(plan))
        self.state.store.edit(message, data, plan)
        await _announce(self.state, "MESSAGE_UPDATE", message)

    def webhook_record(self, application_id: int, token: str) -> InteractionRecord:
        """The interaction behind a webhook token, if its token is still good."""
        if application_id != self.state.world.application_id:
            raise unknown_webhook()
        record = self.state.by_token.get(token)
        if record is None or self.state.token_expired(record):
            raise invalid_webhook_token()
        if record.response is None:
            raise unknown_webhook()  # never acknowledged (or acknowledged too late)
        return record

    def webhook_message(self, record: InteractionRecord, message_id: str) -> RecordedMessage:
        if message_id == "@original":
            message = record.original
        else:
            ident = int(message_id)
            message = next(
                (m for m in [record.original, *record.followups] if m and m.id == ident), None
            )
        if message is None or message.deleted:
            raise unknown_message()
        return message

    async def followup(
        self, application_id: int, token: str, body: dict[str, Any], uploads: list[Upload]
    ) -> dict[str, Any]:
        record = self.webhook_record(application_id, token)
        original = record.original
        if record.response and record.response.type == 5 and original and original.loading:
            # Discord's (deprecated) rule: the first followup after a defer replaces the
            # "thinking..." message and keeps the defer's ephemeral state.
            await self._edit(record, original, body, uploads)
            return original.payload()
        message = await self._create(record, body, uploads, int(body.get("flags") or 0))
        self.state.changes.notify()
        return message.payload()

    async def edit(
        self,
        application_id: int,
        token: str,
        message_id: str,
        body: dict[str, Any],
        uploads: list[Upload],
    ) -> dict[str, Any]:
        record = self.webhook_record(application_id, token)
        message = self.webhook_message(record, message_id)
        await self._edit(record, message, body, uploads)
        self.state.changes.notify()
        return message.payload()

    async def delete(self, application_id: int, token: str, message_id: str) -> None:
        record = self.webhook_record(application_id, token)
        message = self.webhook_message(record, message_id)
        await _delete(self.state, message)


class ChannelOps:
    """Bot-authenticated channel messages: POST/GET/PATCH/DELETE /channels/{id}/messages."""

    def __init__(self, state: FakeState) -> None:
        self.state = state

    def _channel_guild(self, channel_id: int, needed: int) -> int:
        channel = self.state.world.channel(channel_id)
        if channel is None:
            raise unknown_channel()
        perms = self.state.world.bot_permissions(channel.guild_id)
        if perms & (VIEW_CHANNEL | needed) != VIEW_CHANNEL | needed:
            raise missing_permissions()
        return channel.guild_id

    def message(self, channel_id: int, message_id: int) -> RecordedMessage:
        self._channel_guild(channel_id, 0)
        message = self.state.store.get(message_id)
        if message is None or message.channel_id != channel_id or message.ephemeral:
            raise unknown_message()
        return message

    def open_dm(self, recipient_id: int) -> dict[str, Any]:
        """POST /users/@me/channels: the DM channel with a user (the same one every time)
        (https://discord.com/developers/docs/resources/user#create-dm)."""
        world = self.state.world
        user = world.users.get(recipient_id)
        if user is None:
            raise DiscordError(404, 10013, "Unknown User")
        channel_id = world.dm_channels.setdefault(recipient_id, self.state.ids.next())
        return {"id": str(channel_id), "type": 1, "last_message_id": None, "flags": 0,
                "recipients": [user.payload()]}  # fmt: skip

    def _dm_recipient(self, channel_id: int) -> int | None:
        for user_id, dm in self.state.world.dm_channels.items():
            if dm == channel_id:
                return user_id
        return None

    async def create(
        self, channel_id: int, body: dict[str, Any], uploads: list[Upload]
    ) -> dict[str, Any]:
        recipient = self._dm_recipient(channel_id)
        if recipient is not None:
            if recipient in self.state.world.closed_dms:
                raise DiscordError(403, 50007, "Cannot send messages to this user")
            guild_id, limit = None, DM_FILESIZE_LIMIT
        else:
            guild_id = self._channel_guild(
                channel_id, SEND_MESSAGES | (ATTACH_FILES if uploads else 0)
            )
            limit = self.state.world.guild(guild_id).filesize_limit
        plan = plan_upload([], body, uploads, limit)
        check_message(body, creating=True, has_files=bool(plan))
        message = RecordedMessage(
            id=self.state.ids.next(),
            channel_id=channel_id,
            guild_id=guild_id,
            author=self.state.world.bot_user,
            type=19 if body.get("message_reference") else 0,
            flags=int(body.get("flags") or 0) & SETTABLE_FLAGS & ~FLAG_EPHEMERAL,
        )
        self.state.store.create(message, body, plan)
        await _announce(self.state, "MESSAGE_CREATE", message)
        return message.payload()

    def history(self, channel_id: int, query: dict[str, str]) -> list[dict[str, Any]]:
        self._channel_guild(channel_id, 0)
        messages = self.state.store.channel_history(channel_id)
        if "before" in query:
            messages = [m for m in messages if m.id < int(query["before"])]
        if "after" in query:
            messages = [m for m in messages if m.id > int(query["after"])]
        limit = min(int(query.get("limit", 50)), 100)
        return [m.payload() for m in reversed(messages[-limit:])]

    async def edit(
        self, channel_id: int, message_id: int, body: dict[str, Any], uploads: list[Upload]
    ) -> dict[str, Any]:
        message = self.message(channel_id, message_id)
        if message.author.id != self.state.world.bot_user.id:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        limit = self.state.world.guild(message.guild_id or 0).filesize_limit
        plan = plan_upload(message.attachments, body, uploads, limit)
        check_message(body, creating=False, has_files=bool(plan))
        self.state.store.edit(message, body, plan)
        await _announce(self.state, "MESSAGE_UPDATE", message)
        return message.payload()

    async def delete(self, channel_id: int, message_id: int) -> None:
        message = self.message(channel_id, message_id)
        if message.author.id != self.state.world.bot_user.id:
            self._channel_guild(channel_id, MANAGE_MESSAGES)
        await _delete(self.state, message)


def _metadata(record: InteractionRecord) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(record.id),
        "type": record.type,
        "user": record.member.user.payload(),
        "authorizing_integration_owners": {"0": str(record.guild.id)},
    }
    if record.source_message is not None:
        data["interacted_message_id"] = str(record.source_message.id)
    return data


async def _announce(state: FakeState, event: str, message: RecordedMessage) -> None:
    """Gateway MESSAGE_* events for messages everyone can see (never for ephemeral ones)."""
    state.changes.notify()
    if not message.ephemeral:
        await state.emit(event, message.payload(), GUILD_MESSAGES)


async def _delete(state: FakeState, message: RecordedMessage) -> None:
    message.deleted = True
    state.changes.notify()
    if not message.ephemeral:
        data = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id is not None:
            data["guild_id"] = str(message.guild_id)
        await state.emit("MESSAGE_DELETE", data, GUILD_MESSAGES)
