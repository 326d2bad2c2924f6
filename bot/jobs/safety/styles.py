"""Named styles: what a style may be (bot/domain.py apply_style combines one with a prompt)."""

from __future__ import annotations

from bot.domain import STYLE_PLACEHOLDER as PLACEHOLDER
from bot.errors import InvalidOptionError
from bot.text import drop_controls, drop_invisible

MAX_NAME_CHARS = 32
MAX_STYLE_CHARS = 1000  # leaves most of the 4000-character prompt limit to the member
MAX_STYLES = 50  # per guild; autocomplete shows 25 at a time, filtered by what is typed


def check_style(name: str, text: str) -> tuple[str, str]:
    """A style's name and text, trimmed, or InvalidOptionError naming the option."""
    name = " ".join(drop_invisible(drop_controls(name)).split())  # these show nothing
    if not name:
        raise InvalidOptionError("name", "give the style a name")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidOptionError(
            "name", f"is {len(name)} characters; the limit is {MAX_NAME_CHARS}"
        )
    text = drop_controls(text).strip()
    if not text or text == PLACEHOLDER:
        raise InvalidOptionError("prompt", "write the style's text")
    if len(text) > MAX_STYLE_CHARS:
        raise InvalidOptionError(
            "prompt", f"is {len(text)} characters; the limit is {MAX_STYLE_CHARS}"
        )
    return name, text
