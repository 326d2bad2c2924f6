"""Start-up checks that turn an environment mistake into one line naming the setting to fix."""

from __future__ import annotations

import os
from pathlib import Path

from bot.db import DriverError, probe_writable
from bot.errors import ConfigError


def check_database(path: Path) -> None:
    """Open the database and take its write lock once (before aiosqlite's thread, whose failure
    would end in a traceback), or raise the ConfigError naming DATABASE_PATH."""
    try:
        probe_writable(path)
    except (*DriverError, OSError) as exc:
        raise database_error(path, exc) from None


def database_error(path: Path, exc: BaseException) -> ConfigError:
    """The database at `path` could not be opened or written: what to fix, in one line."""
    fix = f"make its folder writable by uid {os.getuid()} or point DATABASE_PATH elsewhere"
    return ConfigError("DATABASE_PATH", f"cannot open {path} ({short_reason(exc)}): {fix}")


def short_reason(exc: BaseException) -> str:
    """A short reason from an OS or sqlite error, without a traceback."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
