"""What Discord makes of a posted image link (an `image` embed) and of a forward (a snapshot).

Shapes from Discord's message resource docs: an image link unfurls into an embed of type
"image" whose `thumbnail` holds the picture, with a `proxy_url` on Discord's media proxy (here the
fake CDN); a forward is a message with an empty body, the FORWARDED flag (1 << 14), a
`message_reference` of type 1 (FORWARD) and one `message_snapshots` entry holding a subset of
the original's fields (no author, no id).
"""

from __future__ import annotations

from typing import Any

from tests.fakes.discord_messages import RecordedFile, RecordedMessage, snowflake_time

FLAG_FORWARDED = 1 << 14  # HAS_SNAPSHOT
REFERENCE_FORWARD = 1
SNAPSHOT_FIELDS = ("type", "content", "embeds", "attachments", "timestamp", "edited_timestamp")


def image_embed(link: str, proxied: RecordedFile) -> dict[str, Any]:
    """The embed Discord adds to a message whose content is a link to an image."""
    media: dict[str, Any] = {
        "url": link,
        "proxy_url": proxied.url,
        "flags": 0,
        "placeholder_version": 1,
        "placeholder": "3PcNBwBZiId3eIiGd3d3eHiGh4Y=",
    }
    if proxied.width is not None:
        media["width"], media["height"] = proxied.width, proxied.height
    return {"type": "image", "url": link, "thumbnail": media, "content_scan_version": 2}


def forward_fields(original: RecordedMessage) -> dict[str, Any]:
    """The message_reference and message_snapshots of a forward of `original`."""
    payload = original.payload()
    snapshot = {key: payload[key] for key in SNAPSHOT_FIELDS}
    snapshot.update(
        flags=original.flags,
        mentions=[],
        mention_roles=[],
        components=[],
        timestamp=snowflake_time(original.id),
    )
    reference: dict[str, Any] = {
        "type": REFERENCE_FORWARD,
        "message_id": str(original.id),
        "channel_id": str(original.channel_id),
    }
    if original.guild_id is not None:
        reference["guild_id"] = str(original.guild_id)
    return {"message_reference": reference, "message_snapshots": [{"message": snapshot}]}
