"""Logging set-up: text or one JSON object per line, with every known secret redacted."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
CONTEXT_FIELDS = ("job", "guild", "user", "model", "outcome", "cost_usd", "seconds")
REDACTED = "[redacted]"
# Tokens that may appear in URLs or messages even when not configured here: interaction and
# webhook tokens in Discord paths (https://discord.com/developers/docs/interactions/receiving-and-responding),
# and as a payload's "token" field (discord.py logs gateway events at DEBUG), bearer keys, and
# bot tokens in an Authorization header.
_PATTERNS = (
    re.compile(r"(/(?:interactions|webhooks)/\d+/)[A-Za-z0-9_.\-]+"),
    re.compile(r"""(['"]token['"]\s*:\s*['"])[^'"]+"""),
    re.compile(r"((?:Bearer|Bot) )[A-Za-z0-9_.\-]{20,}"),
    re.compile(r"()\bsk-[A-Za-z0-9_\-]{8,}"),
)


class RedactingFilter(logging.Filter):
    """Replaces secrets in a record's final message (and its traceback text) before any output."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.exc_info = None  # the redacted text stands in for it
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and the job,
    guild and model (and a finished job's outcome, cost and seconds) when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_text:
            line["error"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def error_line(text: str, fmt: str) -> str:
    """A start-up error as the operator reads it: `text` itself, or with LOG_FORMAT=json one
    JSON object like every other line (a log shipper parses it)."""
    if fmt != "json":
        return text
    line = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": "ERROR",
        "logger": "bot",
        "message": text,
    }
    return json.dumps(line, ensure_ascii=False)


def configure_logging(
    level: str, fmt: str, secrets: Iterable[str], stream: TextIO | None = None
) -> None:
    """One handler (stderr) for the whole process, its format by LOG_FORMAT, secrets redacted."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter(secrets))
    handler.setFormatter(JsonFormatter() if fmt == "json" else _utc_text())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO; keep it quieter than our own lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _utc_text() -> logging.Formatter:
    formatter = logging.Formatter(TEXT_FORMAT)
    formatter.converter = time.gmtime  # times in UTC, like everything else the bot records
    return formatter
