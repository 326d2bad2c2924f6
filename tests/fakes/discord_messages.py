"""Recorded messages and files of the fake Discord: Discord's create/edit semantics, a CDN."""

from __future__ import annotations

import io
import mimetypes
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from tests.fakes.discord_model import DISCORD_EPOCH_MS, FakeUser, Snowflakes
from tests.fakes.discord_rules import FLAG_EPHEMERAL, FLAG_LOADING, invalid_form, walk_components

# Attachment request structure: "description: Description (alt text) for the file (max 1024
# characters)"; the IS_SPOILER attachment flag is 1 << 3 (Discord's message resource docs).
MAX_DESCRIPTION = 1024
IS_SPOILER = 1 << 3
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
)


def snowflake_time(snowflake: int) -> str:
    """ISO timestamp encoded in a snowflake, as Discord's `timestamp` fields."""
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def sniff_content_type(filename: str, data: bytes) -> str:
    """What Discord reports: from the bytes, else the name (uploads say octet-stream)."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def image_size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:
        return None


@dataclass(frozen=True, slots=True)
class Upload:
    """One `files[n]` part of a multipart request."""

    index: int
    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class RecordedFile:
    """An attachment as stored by the fake: decoded bytes plus the loopback URL that serves them."""

    id: int
    filename: str
    content_type: str
    data: bytes
    url: str
    description: str | None = None
    width: int | None = None
    height: int | None = None
    ephemeral: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def spoiler(self) -> bool:
        """Discord blurs files whose name starts with SPOILER_ (the IS_SPOILER flag)."""
        return self.filename.startswith("SPOILER_")

    def open_image(self) -> Image.Image:
        """The file decoded by Pillow (raises if it is not an image)."""
        image = Image.open(io.BytesIO(self.data))
        image.load()
        return image

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
        }
        if self.width is not None:
            data["width"], data["height"] = self.width, self.height
        if self.description is not None:
            data["description"] = self.description
        if self.ephemeral:
            data["ephemeral"] = True
        if self.spoiler:
            data["flags"] = IS_SPOILER
        return data


@dataclass(slots=True)
class RecordedMessage:
    """A message as the fake holds it; edits mutate it and append to `revisions`."""

    id: int
    channel_id: int
    guild_id: int | None
    author: FakeUser
    type: int = 0
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    attachments: list[RecordedFile] = field(default_factory=list)
    interaction_id: int | None = None
    webhook_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False
    edited_at: str | None = None
    revisions: list[dict[str, Any]] = field(default_factory=list)
    # Who this message notified when it was created: "everyone", "user:<id>", "role:<id>".
    pings: frozenset[str] = frozenset()

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        """Still the "thinking..." placeholder of a deferred interaction."""
        return bool(self.flags & FLAG_LOADING)

    @property
    def text(self) -> str:
        """Content plus every embed text, for assertions that do not care where words appear."""
        parts = [self.content]
        for embed in self.embeds:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            parts += [(embed.get("footer") or {}).get("text") or ""]
            for fld in embed.get("fields") or []:
                parts += [fld.get("name") or "", fld.get("value") or ""]
        return "\n".join(p for p in parts if p)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [c for c in walk_components(self.components) if c.get("type") == 2]

    def find_component(
        self, *, label: str | None = None, custom_id: str | None = None
    ) -> dict[str, Any]:
        """The one interactive component matching label/custom_id (or the only one)."""
        found = [
            c
            for c in walk_components(self.components)
            if c.get("custom_id")
            and (label is None or c.get("label") == label)
            and (custom_id is None or c.get("custom_id") == custom_id)
        ]
        if len(found) != 1:
            shown = [(c.get("label"), c.get("custom_id")) for c in walk_components(self.components)]
            raise AssertionError(
                f"expected one component label={label!r} custom_id={custom_id!r} "
                f"on message {self.id}, found {len(found)} among {shown}"
            )
        return found[0]

    def file(self, filename: str) -> RecordedFile:
        for attachment in self.attachments:
            if attachment.filename == filename:
                return attachment
        raise AssertionError(
            f"no attachment {filename!r}: {[a.filename for a in self.attachments]}"
        )

    def payload(self) -> dict[str, Any]:
        """The Discord message object."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "channel_id": str(self.channel_id),
            "author": self.author.payload(),
            "content": self.content,
            "embeds": self.embeds,
            "components": self.components,
            "attachments": [a.payload() for a in self.attachments],
            "flags": self.flags,
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": snowflake_time(self.id),
            "edited_timestamp": self.edited_at,
            **self.extra,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.webhook_id is not None:
            data["webhook_id"] = data["application_id"] = str(self.webhook_id)
        return data


PlanItem = RecordedFile | tuple[Upload, dict[str, Any]]


_USER = re.compile(r"<@!?(\d+)>")
_ROLE = re.compile(r"<@&(\d+)>")


def pings(content: str, allowed: dict[str, Any] | None) -> frozenset[str]:
    """Whom a new message's content notifies, by Discord's allowed_mentions rules
    (https://discord.com/developers/docs/resources/message#allowed-mentions-object): without the
    object every mention in the content notifies; with it, only the `parse` types and the listed
    `users` and `roles`. Embeds never notify."""
    parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse") or [])
    users = {str(u) for u in (allowed or {}).get("users") or []}
    roles = {str(r) for r in (allowed or {}).get("roles") or []}
    found = {f"user:{u}" for u in _USER.findall(content) if "users" in parse or u in users}
    found |= {f"role:{r}" for r in _ROLE.findall(content) if "roles" in parse or r in roles}
    if "everyone" in parse and re.search(r"@(everyone|here)\b", content):
        found.add("everyone")
    return frozenset(found)


def plan_attachments(
    existing: Sequence[RecordedFile], listed: list[dict[str, Any]] | None, uploads: Sequence[Upload]
) -> list[PlanItem]:
    """Discord's rule: `attachments` lists what stays (by id) and names new files (by index).

    Without an `attachments` array, existing files stay and new uploads are appended.
    """
    by_index = {u.index: u for u in uploads}
    if listed is None:
        return [*existing, *((u, {}) for u in uploads)]
    known = {a.id: a for a in existing}
    plan: list[PlanItem] = []
    used: set[int] = set()
    for position, entry in enumerate(listed):
        if len(entry.get("description") or "") > MAX_DESCRIPTION:
            raise invalid_form(
                ["attachments", position, "description"],
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_DESCRIPTION} or fewer in length.",
            )
        ident = int(entry["id"])
        if ident in by_index and ident not in used:
            plan.append((by_index[ident], entry))
            used.add(ident)
        elif ident in known:
            plan.append(known[ident])
        else:
            raise invalid_form(["attachments", position, "id"], "UNKNOWN_ATTACHMENT", str(ident))
    plan += [(u, {}) for u in uploads if u.index not in used]
    return plan


class MessageStore:
    """Every message and file; the CDN half serves stored bytes by path."""

    def __init__(self, ids: Snowflakes) -> None:
        self.ids = ids
        self.cdn_base = ""
        self.messages: dict[int, RecordedMessage] = {}
        self.cdn: dict[str, RecordedFile] = {}

    def __iter__(self) -> Iterator[RecordedMessage]:
        return iter(list(self.messages.values()))

    def add_file(
        self,
        filename: str,
        data: bytes,
        *,
        folder: str,
        content_type: str | None = None,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> RecordedFile:
        """Store bytes and serve them at a loopback URL under /cdn/."""
        file_id = self.ids.next()
        path = f"/cdn/{folder}/{file_id}/{filename}"
        size = image_size(data)
        file = RecordedFile(
            id=file_id,
            filename=filename,
            content_type=content_type or sniff_content_type(filename, data),
            data=data,
            url=self.cdn_base + path,
            description=description,
            width=size[0] if size else None,
            height=size[1] if size else None,
            ephemeral=ephemeral,
        )
        self.cdn[path] = file
        return file

    def materialize(
        self, plan: Sequence[PlanItem], channel_id: int, ephemeral: bool
    ) -> list[RecordedFile]:
        files: list[RecordedFile] = []
        for item in plan:
            if isinstance(item, RecordedFile):
                files.append(item)
                continue
            upload, entry = item
            name = entry.get("filename") or upload.filename
            folder = f"{'ephemeral-' if ephemeral else ''}attachments/{channel_id}"
            files.append(
                self.add_file(
                    name,
                    upload.data,
                    folder=folder,
                    description=entry.get("description"),
                    ephemeral=ephemeral,
                )
            )
        return files

    def create(
        self, message: RecordedMessage, payload: dict[str, Any], plan: Sequence[PlanItem]
    ) -> RecordedMessage:
        """Fill a new message from a create payload and store it."""
        message.content = payload.get("content") or ""
        message.embeds = list(payload.get("embeds") or [])
        message.components = list(payload.get("components") or [])
        message.attachments = self.materialize(plan, message.channel_id, message.ephemeral)
        message.pings = pings(message.content, payload.get("allowed_mentions"))
        if payload.get("message_reference"):
            message.extra["message_reference"] = payload["message_reference"]
        self.messages[message.id] = message
        message.revisions.append(message.payload())
        return message

    def edit(
        self, message: RecordedMessage, payload: dict[str, Any], plan: Sequence[PlanItem]
    ) -> None:
        """Fields present replace the old ones; the ephemeral bit never changes; loading ends."""
        if "content" in payload:
            message.content = payload["content"] or ""
        for key in ("embeds", "components"):
            if key in payload:
                setattr(message, key, list(payload[key] or []))
        if payload.get("flags") is not None:
            message.flags = (int(payload["flags"]) & ~FLAG_EPHEMERAL) | (
                message.flags & FLAG_EPHEMERAL
            )
        message.flags &= ~FLAG_LOADING
        message.attachments = self.materialize(plan, message.channel_id, message.ephemeral)
        message.edited_at = datetime.now(UTC).isoformat()
        message.revisions.append(message.payload())

    def get(self, message_id: int) -> RecordedMessage | None:
        message = self.messages.get(message_id)
        return None if message is None or message.deleted else message

    def channel_history(self, channel_id: int) -> list[RecordedMessage]:
        """Visible messages in a channel, oldest first (ephemeral ones are not in history)."""
        return [
            m
            for m in self.messages.values()
            if m.channel_id == channel_id and not m.deleted and not m.ephemeral
        ]
