"""The test's view of one interaction, and the INTERACTION_CREATE payloads the fake sends."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tests.fakes.discord_messages import RecordedMessage
from tests.fakes.discord_model import FakeChannel, FakeGuild, FakeMember
from tests.fakes.discord_state import CallbackRecord, FakeState, InteractionRecord

MessagePredicate = Callable[[RecordedMessage], object]


class InteractionHandle:
    """One interaction the fake sent: the bot's callbacks, messages and timings."""

    def __init__(self, record: InteractionRecord, state: FakeState) -> None:
        self.record = record
        self._state = state

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def token(self) -> str:
        return self.record.token

    @property
    def payload(self) -> dict[str, Any]:
        """The INTERACTION_CREATE `d` exactly as dispatched."""
        return self.record.payload

    @property
    def callbacks(self) -> list[CallbackRecord]:
        """Every initial-response attempt, accepted or refused."""
        return self.record.callbacks

    @property
    def response(self) -> CallbackRecord | None:
        """The accepted initial response, if any."""
        return self.record.response

    @property
    def original(self) -> RecordedMessage | None:
        return self.record.original

    @property
    def followups(self) -> list[RecordedMessage]:
        return self.record.followups

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal the bot answered with (callback type 9)."""
        return self.record.modal

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        """Autocomplete choices the bot answered with (callback type 8)."""
        return self.record.choices

    @property
    def ack_latency(self) -> float | None:
        """Seconds from dispatching INTERACTION_CREATE to the bot's first callback."""
        return self.record.callbacks[0].latency if self.record.callbacks else None

    async def wait_response(
        self,
        timeout: float = 5.0,
        *,
        allow_refused: bool = False,
    ) -> CallbackRecord:
        """The bot's first callback once the fake has accepted or refused it; fails the test if it
        was refused, unless allow_refused."""

        def settled() -> CallbackRecord | None:
            first = self.record.callbacks[0] if self.record.callbacks else None
            # Recorded on arrival, settled only after the fake's own awaits (e.g. an edit).
            done = first is not None and (first.accepted or first.error is not None)
            return first if done else None

        first = await self._state.changes.wait_for(
            settled, timeout, f"a response to interaction {self.id}"
        )
        if not allow_refused and not first.accepted:
            raise AssertionError(
                f"the first response to interaction {self.id} was refused: {first.error}"
            )
        return first

    async def wait_original(
        self,
        predicate: MessagePredicate | None = None,
        timeout: float = 5.0,
    ) -> RecordedMessage:
        """The original response once `predicate` holds (default: past "thinking...")."""
        check = predicate or (lambda m: not m.loading)

        def probe() -> RecordedMessage | None:
            message = self.record.original
            return message if message is not None and check(message) else None

        return await self._state.changes.wait_for(
            probe, timeout, f"the original response of {self.id}"
        )

    async def wait_followup(
        self,
        predicate: MessagePredicate | None = None,
        timeout: float = 5.0,
    ) -> RecordedMessage:
        """The first followup message matching `predicate`."""
        check = predicate or (lambda _m: True)

        def probe() -> RecordedMessage | None:
            return next((m for m in self.record.followups if check(m)), None)

        return await self._state.changes.wait_for(probe, timeout, f"a followup of {self.id}")

    async def wait_modal(self, timeout: float = 5.0) -> dict[str, Any]:
        return await self._state.changes.wait_for(
            lambda: self.record.modal, timeout, f"a modal answering {self.id}"
        )


def interaction_payload(
    state: FakeState,
    record: InteractionRecord,
    data: dict[str, Any],
    message: RecordedMessage | None = None,
) -> dict[str, Any]:
    """INTERACTION_CREATE `d` with all that discord.py 2.7 requires (token, version, size limit)."""
    guild, channel, member = record.guild, record.channel, record.member
    perms = guild.permissions_in(channel, member)
    payload: dict[str, Any] = {
        "id": str(record.id),
        "application_id": str(state.world.application_id),
        "type": record.type,
        "token": record.token,
        "version": 1,
        "guild_id": str(guild.id),
        "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
        "channel_id": str(channel.id),
        "channel": {**channel.payload(), "permissions": str(perms)},
        "member": member.payload(perms),
        "app_permissions": str(state.world.bot_permissions(guild.id)),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": record.attachment_size_limit,
        "data": data,
    }
    if message is not None:
        payload["message"] = message.payload()
    return payload


def check_member(guild: FakeGuild, channel: FakeChannel, member: FakeMember) -> None:
    if member.guild_id != guild.id or member.id not in guild.members:
        raise AssertionError(f"{member.user.username} is not a member of {guild.name!r}")
    if channel.guild_id != guild.id:
        raise AssertionError(f"#{channel.name} is not in {guild.name!r}")


ModalValue = str | list[str] | list[dict[str, Any]]


def modal_resolved(values: Mapping[str, ModalValue]) -> dict[str, Any]:
    """`resolved.attachments` for the files answered to File Upload components (type 19):
    Discord sends each uploaded file's id in the component's `values` and the attachment here."""
    files = [v for value in values.values() if isinstance(value, list) for v in value]
    found = {str(f["id"]): f for f in files if isinstance(f, dict)}
    return {"attachments": found} if found else {}


def modal_answers(modal: dict[str, Any], values: Mapping[str, ModalValue]) -> list[dict[str, Any]]:
    """MODAL_SUBMIT components mirroring the modal; `values` keyed by custom_id or label."""
    unused = set(values)

    def answer(item: dict[str, Any], label: str | None) -> dict[str, Any]:
        key = item.get("custom_id") if item.get("custom_id") in values else label
        value = values.get(key) if key is not None else None
        unused.discard(key or "")
        return _answer_one(item, label, value)

    out: list[dict[str, Any]] = []
    for top in modal.get("components") or []:
        if top["type"] == 1:
            row = [answer(c, c.get("label")) for c in top.get("components") or []]
            out.append({"type": 1, "components": row})
        elif top["type"] == 18:
            out.append(
                {
                    "type": 18,
                    "id": top.get("id"),
                    "component": answer(top["component"], top.get("label")),
                }
            )
    if unused:
        raise AssertionError(f"the modal has no inputs {sorted(unused)}")
    return out


def _answer_one(
    item: dict[str, Any], label: str | None, value: ModalValue | None
) -> dict[str, Any]:
    """One answered input, as a Discord client would allow it."""
    kind = item["type"]
    name = label or item.get("custom_id")
    if kind == 4:
        text = value if isinstance(value, str) else ""
        if value is not None and not isinstance(value, str):
            raise AssertionError(f"text input {name!r} takes a string, got {value!r}")
        low, high = int(item.get("min_length") or 0), int(item.get("max_length") or 4000)
        if item.get("required", True) and not text:
            raise AssertionError(f"modal input {name!r} is required")
        if text and not low <= len(text) <= high:
            raise AssertionError(f"modal input {name!r}: length {len(text)} outside {low}..{high}")
        return {"type": 4, "custom_id": item["custom_id"], "value": text}
    if kind == 19:  # File Upload: 0-10 files, within the component's min/max_values
        files = [f for f in (value or []) if isinstance(f, dict)]
        low, high = int(item.get("min_values") or 1), int(item.get("max_values") or 1)
        if not item.get("required", True) and not files:
            low = 0
        if not low <= len(files) <= high:
            raise AssertionError(
                f"file upload {name!r} takes {low}..{high} files, not {len(files)}"
            )
        ids = [str(f["id"]) for f in files]
        return {"type": 19, "id": item.get("id"), "custom_id": item.get("custom_id"), "values": ids}
    chosen = [value] if isinstance(value, str) else [str(v) for v in value or []]
    if kind == 3:
        allowed = [o["value"] for o in item.get("options") or []]
        if any(v not in allowed for v in chosen):
            raise AssertionError(f"select {name!r} offers {allowed}, not {chosen}")
    return {"type": kind, "custom_id": item.get("custom_id"), "values": chosen}
