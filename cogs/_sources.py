"""The images of a message for Edit image: attachments, forwarded snapshots and image embeds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import discord

from bot.errors import InvalidImageError
from bot.imaging import intake

NO_IMAGES = (
    "That message has no images to edit: I looked at its attachments, at the images of a "
    "forwarded message and at image links."
)


@dataclass(frozen=True, slots=True)
class MessageImage:
    """One image of a message: what Discord says about it, and where Discord serves it.

    `url` is always Discord's: an attachment's CDN URL or an embed's `proxy_url` on Discord's
    media proxy, never the third-party link itself, so the bot fetches nothing from strangers'
    hosts.
    """

    declared: intake.DeclaredFile
    url: str


def message_images(message: discord.Message) -> list[MessageImage]:
    """The message's images in reading order: its own, then each forwarded snapshot's."""
    found: list[MessageImage] = []
    parts = [(message.attachments, message.embeds)]
    parts += [(snap.attachments, snap.embeds) for snap in message.message_snapshots]
    for attachments, embeds in parts:
        found += _attachments(attachments)
        found += _embeds(embeds, seen={_path(a.url) for a in attachments})
    return found


def _attachments(attachments: Iterable[discord.Attachment]) -> list[MessageImage]:
    images = []
    for attachment in attachments:
        declared = intake.DeclaredFile(
            attachment.filename, attachment.size, attachment.content_type
        )
        if intake.looks_like_image(declared):
            images.append(MessageImage(declared, attachment.url))
    return images


def _embeds(embeds: Iterable[discord.Embed], *, seen: set[str]) -> list[MessageImage]:
    """A link's image embed (Discord puts the picture in `thumbnail`) or a rich embed's image.

    Article and video thumbnails are previews, not the picture a member means; an embed that
    shows one of the message's own attachments is skipped (it is already counted).
    """
    images = []
    for embed in embeds:
        if embed.type == "image":
            media = embed.thumbnail
        elif embed.type == "rich":
            media = embed.image
        else:
            continue
        if not media.proxy_url or not media.url or _path(media.url) in seen:
            continue
        seen.add(_path(media.url))
        # Discord typed it as an image; the size is unknown until downloaded (then checked).
        declared = intake.DeclaredFile(_name(media.url), 0, "image/*")
        images.append(MessageImage(declared, media.proxy_url))
    return images


def _path(url: str) -> str:
    """A URL without its query: Discord's signed CDN links differ only there."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"


def _name(url: str) -> str:
    """The last path segment of a link, as the file name a refusal would show."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return name or "linked image"


async def download(client: discord.Client, image: MessageImage) -> intake.Blob:
    """The image's bytes from Discord's CDN or media proxy (through discord.py's session)."""
    name = image.declared.filename
    try:
        data = await client.http.get_from_cdn(image.url)
    except discord.HTTPException as exc:
        raise InvalidImageError(name, "I could not download it") from exc
    return intake.Blob(filename=name, data=data)
