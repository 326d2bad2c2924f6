"""The one place that fits text to Discord's length limits: whole lines kept, the rest counted."""

from __future__ import annotations

from collections.abc import Callable, Sequence

# https://discord.com/developers/docs/resources/message#create-message-jsonform-params and
# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
CONTENT = 2000  # a message's content
EMBED_DESCRIPTION = 4096
FIELD_VALUE = 1024
FIELD_NAME = 256
EMBED_TOTAL = 6000  # every text of every embed of a message together


def _more(hidden: int) -> str:
    return f"…and {hidden} more"


def fit_lines(lines: Sequence[str], limit: int, *, more: Callable[[int], str] = _more) -> str:
    """As many whole lines as fit in `limit` characters, then a last line saying how many were
    left out (`more(n)`); a single line longer than the limit is cut with an ellipsis."""
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        hidden = len(lines) - index - 1
        tail = len(more(hidden)) + 1 if hidden else 0
        if used + len(line) + tail > limit:
            if not kept:
                return fit(line, limit)
            return "\n".join([*kept, more(len(lines) - index)])
        kept.append(line)
        used += len(line) + 1
    return "\n".join(kept)


def fit(text: str, limit: int) -> str:
    """`text` cut to `limit` characters with an ellipsis when longer (never inside a `\\`
    escape: a trailing backslash would escape the ellipsis)."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip("\\") + "…"
