"""Why a PostgreSQL connection failed: a definite refusal, or no answer (yet)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConnectFailure:
    """Why a connection failed: `final` when the server answered with a refusal (retrying
    cannot help), else it did not answer (yet); `reason` is the cause in the server's words."""

    final: bool
    reason: str


# The server's words when its connections are used up (53300 too_many_connections, and the
# slots kept for superusers): it answered, and may have one free later.
NO_CONNECTION_FREE = ("too many clients", "connection slots are reserved")
# libpq gives a failed connection's error as text only (no SQLSTATE reaches psycopg): a
# "FATAL:" is the server's own refusal (class 28 invalid authorization, 3D000 invalid catalog
# name, ...: https://www.postgresql.org/docs/15/errcodes-appendix.html), except these, which
# pass (57P03 cannot_connect_now, 53300 too_many_connections).
_PASSING = (
    "starting up",
    "shutting down",
    "recovery mode",
    "not yet accepting connections",
    "not accepting connections",
    *NO_CONNECTION_FREE,
)
# Refusals libpq (or psycopg) makes itself: the server answered, its TLS is not what the URL
# asks for; or a connection option's value cannot be read (`sslmode=bogus`): no server is asked.
_CLIENT_REFUSALS = ("does not support SSL", "certificate")
_BAD_OPTION = re.compile(
    r"invalid \w+ value|invalid integer value|invalid port number|bad value for"
)


def connect_failure(exc: BaseException) -> ConnectFailure:
    """Whether `exc` (from opening a connection) is a definite refusal, and its cause."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    causes = [line.rpartition("failed: ")[2].removeprefix("FATAL:").strip() for line in lines]
    refused = [c for line, c in zip(lines, causes, strict=True) if _refusal(line)]
    reason = (refused or causes or [type(exc).__name__])[0]
    return ConnectFailure(final=bool(refused), reason=reason)


def _refusal(line: str) -> bool:
    if any(words in line for words in _CLIENT_REFUSALS) or _BAD_OPTION.search(line):
        return True
    return "FATAL:" in line and not any(words in line for words in _PASSING)
