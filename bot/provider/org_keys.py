"""Which of the organization's API key ids is the bot's own key, from the keys' redacted values.

The usage and costs APIs filter by key *id* (docs/sources.md#usage-costs); the Admin API lists
each project's keys with their `id` and `redacted_value`, e.g. "sk-abc...def"
(https://platform.openai.com/docs/api-reference/project-api-keys/list,
docs/sources.md#project-api-keys). The bot's key is matched by that value's prefix and suffix,
locally: the key itself is never sent to the admin endpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.provider.organization import OrganizationClient, ProjectKey

_ELLIPSES = ("...", "…")


@dataclass(frozen=True, slots=True)
class KeyMatch:
    """The bot's key id when exactly one listed key matches; otherwise why not (for the header)."""

    key_id: str | None
    project: str | None
    why_not: str = ""


def redacted_parts(redacted: str) -> tuple[str, str] | None:
    """("sk-abc", "def") from "sk-abc...def"; None when the value hides no middle."""
    for mark in _ELLIPSES:
        if mark in redacted:
            head, _, tail = redacted.partition(mark)
            return head.rstrip("*"), tail.lstrip("*")
    return None


def matches(secret: str, redacted: str) -> bool:
    """Whether `secret` could be the key shown as `redacted` (its prefix and suffix agree)."""
    parts = redacted_parts(redacted)
    if parts is None or not parts[1]:
        return False
    head, tail = parts
    return secret.startswith(head) and secret.endswith(tail)


def pick(secret: str, keys: Sequence[ProjectKey]) -> KeyMatch:
    """The one key of `keys` that `secret` matches, or why none was chosen."""
    found = [key for key in keys if matches(secret, key.redacted_value)]
    if len(found) == 1:
        return KeyMatch(found[0].key_id, found[0].project)
    if not found:
        return KeyMatch(None, None, f"no API key of the {len(keys)} listed matches the bot's key")
    return KeyMatch(None, None, f"{len(found)} API keys look like the bot's key")


async def find_bot_key(client: OrganizationClient, secret: str, *, project: str | None) -> KeyMatch:
    """Search `project`'s keys, or every project's when it is not set."""
    projects = [project] if project else await client.project_ids()
    keys: list[ProjectKey] = []
    for each in projects:
        keys += await client.project_keys(each)
    return pick(secret, keys)
