"""Discord's error replies and its documented message, embed, component and modal limits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_FILES = 10
EMBED_LIMITS = {"title": 256, "description": 4096}
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_COMPONENTS_V2 = 1 << 15


class DiscordError(Exception):
    """An error reply exactly as Discord sends it: HTTP status plus a JSON {code, message}."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            data["errors"] = self.errors
        return data


@dataclass(frozen=True, slots=True)
class Violation:
    """A request the fake refused as Discord would: what, where, and for which interaction."""

    status: int
    code: int
    message: str
    method: str
    path: str
    interaction_id: int | None = None
    detail: str = ""


def unknown_interaction() -> DiscordError:
    return DiscordError(404, 10062, "Unknown interaction")


def already_acknowledged() -> DiscordError:
    return DiscordError(400, 40060, "Interaction has already been acknowledged.")


def invalid_webhook_token() -> DiscordError:
    return DiscordError(401, 50027, "Invalid Webhook Token")


def unknown_webhook() -> DiscordError:
    return DiscordError(404, 10015, "Unknown Webhook")


def unknown_message() -> DiscordError:
    return DiscordError(404, 10008, "Unknown Message")


def unknown_channel() -> DiscordError:
    return DiscordError(404, 10003, "Unknown Channel")


def missing_permissions() -> DiscordError:
    return DiscordError(403, 50013, "Missing Permissions")


def too_large() -> DiscordError:
    return DiscordError(413, 40005, "Request entity too large")


def empty_message() -> DiscordError:
    return DiscordError(400, 50006, "Cannot send an empty message")


def invalid_form(path: Sequence[str | int], code: str, message: str) -> DiscordError:
    """50035 with Discord's nested `errors` tree, e.g. {"content": {"_errors": [...]}}."""
    tree: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        tree = {str(key): tree}
    return DiscordError(400, 50035, "Invalid Form Body", tree)


def _too_long(path: Sequence[str | int], limit: int) -> DiscordError:
    return invalid_form(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def check_files(sizes: Sequence[tuple[str, int]], kept: int, limit: int) -> None:
    """At most 10 attachments per message; each new file within the per-file limit."""
    if len(sizes) + kept > MAX_FILES:
        raise DiscordError(400, 30015, "Maximum number of attachments in a message reached (10)")
    for _name, size in sizes:
        if size > limit:
            raise too_large()


def check_message(payload: dict[str, Any], *, creating: bool, has_files: bool) -> None:
    """Content, embed and component limits; creates must not be empty."""
    content = payload.get("content") or ""
    if len(content) > MAX_CONTENT:
        raise _too_long(["content"], MAX_CONTENT)
    embeds = payload.get("embeds") or []
    check_embeds(embeds)
    components = payload.get("components") or []
    check_components(components, v2=bool(int(payload.get("flags") or 0) & FLAG_COMPONENTS_V2))
    if creating and not (content or embeds or components or has_files or payload.get("poll")):
        raise empty_message()


def _embed_texts(embed: dict[str, Any]) -> Iterator[tuple[list[str | int], str, int]]:
    """(path, text, limit) for every counted text of one embed."""
    for key, limit in EMBED_LIMITS.items():
        yield [key], embed.get(key) or "", limit
    yield ["footer", "text"], (embed.get("footer") or {}).get("text") or "", 2048
    yield ["author", "name"], (embed.get("author") or {}).get("name") or "", 256
    for i, fld in enumerate(embed.get("fields") or []):
        yield ["fields", i, "name"], fld.get("name") or "", 256
        yield ["fields", i, "value"], fld.get("value") or "", 1024


def check_embeds(embeds: Sequence[dict[str, Any]]) -> None:
    if len(embeds) > MAX_EMBEDS:
        raise _too_long(["embeds"], MAX_EMBEDS)
    total = 0
    for index, embed in enumerate(embeds):
        if len(embed.get("fields") or []) > 25:
            raise _too_long(["embeds", index, "fields"], 25)
        for path, text, limit in _embed_texts(embed):
            if len(text) > limit:
                raise _too_long(["embeds", index, *path], limit)
            total += len(text)
    if total > MAX_EMBED_TOTAL:
        raise invalid_form(
            ["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )


def walk_components(components: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every component, depth first (rows, containers, sections' accessories, labels)."""
    for component in components:
        yield component
        yield from walk_components(component.get("components") or [])
        for key in ("accessory", "component"):
            if isinstance(component.get(key), dict):
                yield from walk_components([component[key]])


def check_components(components: Sequence[dict[str, Any]], *, v2: bool) -> None:
    """Rows hold up to 5 buttons; custom_ids 1-100 characters and unique per message."""
    if not v2 and len(components) > 5:
        raise _too_long(["components"], 5)
    seen: set[str] = set()
    for index, component in enumerate(walk_components(components)):
        if component.get("type") == 1 and len(component.get("components") or []) > 5:
            raise _too_long(["components", index, "components"], 5)
        custom_id = component.get("custom_id")
        if custom_id is None:
            continue
        if not 1 <= len(custom_id) <= 100 or custom_id in seen:
            raise invalid_form(
                ["components", index, "custom_id"], "COMPONENT_CUSTOM_ID_INVALID", custom_id
            )
        seen.add(custom_id)
        if len(component.get("label") or "") > 80:
            raise _too_long(["components", index, "label"], 80)


def check_modal(data: dict[str, Any]) -> None:
    """Title up to 45, 1-5 top-level components, text inputs within Discord's lengths."""
    if not 1 <= len(data.get("title") or "") <= 45:
        raise _too_long(["data", "title"], 45)
    if not data.get("custom_id"):
        raise invalid_form(["data", "custom_id"], "BASE_TYPE_REQUIRED", "This field is required")
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        raise _too_long(["data", "components"], 5)
    check_components(components, v2=True)
    for index, item in enumerate(walk_components(components)):
        if item.get("type") != 4:
            continue
        for key, limit in (("value", 4000), ("placeholder", 100), ("label", 45)):
            if len(item.get(key) or "") > limit:
                raise _too_long(["data", "components", index, key], limit)
        if int(item.get("max_length") or 0) > 4000:
            raise invalid_form(["data", "components", index, "max_length"], "NUMBER_TYPE_MAX", "")


def check_choices(choices: Sequence[dict[str, Any]]) -> None:
    """Autocomplete results: at most 25 choices, names 1-100 characters."""
    if len(choices) > 25:
        raise _too_long(["data", "choices"], 25)
    for index, choice in enumerate(choices):
        if not 1 <= len(str(choice.get("name", ""))) <= 100:
            raise _too_long(["data", "choices", index, "name"], 100)
