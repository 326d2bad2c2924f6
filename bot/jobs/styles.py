"""Named styles: how a style's text combines with a member's prompt, and what a style may be."""

from __future__ import annotations

from bot.errors import InvalidOptionError

PLACEHOLDER = "{prompt}"
MAX_NAME_CHARS = 32
MAX_STYLE_CHARS = 1000  # leaves most of the 4000-character prompt limit to the member
MAX_STYLES = 50  # per guild; autocomplete shows 25 at a time, filtered by what is typed
_CLOSERS = ".!?,;:"


def apply_style(prompt: str, style: str | None) -> str:
    """The prompt sent upstream: the style's text with the member's prompt at `{prompt}`, or,
    without a placeholder, the member's prompt first and the style after it."""
    prompt = prompt.strip()
    if not style:
        return prompt
    if PLACEHOLDER in style:
        return style.replace(PLACEHOLDER, prompt).strip()
    joiner = " " if prompt.endswith(tuple(_CLOSERS)) else ". "
    return f"{prompt}{joiner}{style.strip()}"


def check_style(name: str, text: str) -> tuple[str, str]:
    """A style's name and text, trimmed, or InvalidOptionError naming the option."""
    name = " ".join(name.split())
    if not name:
        raise InvalidOptionError("name", "give the style a name")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidOptionError(
            "name", f"is {len(name)} characters; the limit is {MAX_NAME_CHARS}"
        )
    text = text.strip()
    if not text or text == PLACEHOLDER:
        raise InvalidOptionError("prompt", "write the style's text")
    if len(text) > MAX_STYLE_CHARS:
        raise InvalidOptionError(
            "prompt", f"is {len(text)} characters; the limit is {MAX_STYLE_CHARS}"
        )
    return name, text
