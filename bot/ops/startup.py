"""Start-up checks that turn an environment mistake into one line naming the setting to fix."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bot.db import DriverError, probe_writable
from bot.errors import ConfigError

# What opening the database raises when the environment is wrong (the driver's, or the OS's).
OPEN_ERRORS: tuple[type[Exception], ...] = (*DriverError, OSError)


def check_database(path: Path) -> None:
    """Open the database and take its write lock once (before aiosqlite's thread, whose failure
    would end in a traceback), or raise the ConfigError naming DATABASE_PATH."""
    try:
        probe_writable(path)
    except OPEN_ERRORS as exc:
        raise database_error(path, exc) from None


def database_error(path: Path, exc: BaseException) -> ConfigError:
    """The database at `path` could not be opened or written: what to fix, in one line."""
    fix = f"make its folder writable by uid {os.getuid()} or point DATABASE_PATH elsewhere"
    return ConfigError("DATABASE_PATH", f"cannot open {path} ({short_reason(exc)}): {fix}")


def postgresql_error(url: str, waited_s: float, exc: BaseException) -> ConfigError:
    """DATABASE_URL did not answer (or refused us) for `waited_s` seconds, in one line and
    without the URL's password."""
    where = redact(url)
    reason = short_reason(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    fix = "start PostgreSQL there or fix the URL"
    return ConfigError("DATABASE_URL", f"{where}: no answer after {waited_s:g} s ({reason}): {fix}")


def redact(url: str) -> str:
    """`url` without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def short_reason(exc: BaseException) -> str:
    """A short reason from an OS or sqlite error, without a traceback."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
