"""Start-up checks that turn an environment mistake into one line naming the setting to fix."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import urlsplit

from bot.db import DriverError, connect_failure, probe_writable
from bot.db.refusals import NO_CONNECTION_FREE
from bot.db.urls import redact, url_secrets
from bot.errors import ConfigError, UnreachableError

GATEWAY_CONNECT_SECONDS = 10.0

# What opening the database raises when the environment is wrong (the driver's, or the OS's).
OPEN_ERRORS: tuple[type[Exception], ...] = (*DriverError, OSError)


def check_database(path: Path) -> None:
    """Open the database and take its write lock once (before aiosqlite's thread, whose failure
    would end in a traceback), or raise the ConfigError naming DATABASE_PATH."""
    try:
        probe_writable(path)
    except OPEN_ERRORS as exc:
        raise database_error(path, exc) from None


def check_data_dir(path: Path) -> None:
    """Make DATA_DIR if missing and write a file there once (kept images go there), or raise
    the ConfigError naming DATA_DIR: a first image should not be where this is found out."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        trial = path / f".write-check-{os.getpid()}"
        trial.write_bytes(b"")
        trial.unlink()
    except OSError as exc:
        fix = f"make it writable by uid {os.getuid()} or point DATA_DIR elsewhere"
        reason = f"cannot write to {path} ({short_reason(exc)}): {fix}"
        raise ConfigError("DATA_DIR", reason) from None


def database_error(path: Path, exc: BaseException) -> ConfigError:
    """The database at `path` could not be opened or written: what to fix, in one line."""
    fix = f"make its folder writable by uid {os.getuid()} or point DATABASE_PATH elsewhere"
    return ConfigError("DATABASE_PATH", f"cannot open {path} ({short_reason(exc)}): {fix}")


def postgresql_error(url: str, waited_s: float, exc: BaseException) -> ConfigError:
    """DATABASE_URL refused us (the cause first), or did not answer for `waited_s` seconds,
    in one line and without the URL's password."""
    where = redact(url)
    failure = connect_failure(exc)
    reason = _without_password(failure.reason, url)
    if failure.final:
        return ConfigError("DATABASE_URL", f"{reason} (at {where}): {_fix_for(reason)}")
    after = f" after {waited_s:g} s" if waited_s else ""
    if any(
        words in reason for words in NO_CONNECTION_FREE
    ):  # it answered: it has no connection to spare
        fix = "raise its max_connections or run fewer processes (README, Several processes)"
        return ConfigError("DATABASE_URL", f"{where}: no connection free{after} ({reason}): {fix}")
    fix = "start PostgreSQL there or fix the URL"
    return ConfigError("DATABASE_URL", f"{where}: no answer{after} ({reason}): {fix}")


def _fix_for(reason: str) -> str:
    if "SSL" in reason or "certificate" in reason:
        return "fix sslmode in the URL or the server's SSL set-up"
    if "database" in reason and "does not exist" in reason:
        return "create that database or fix its name in the URL"
    if "authentication" in reason or "role" in reason or "pg_hba" in reason:
        return "fix the user or password in the URL (or the server's pg_hba.conf)"
    return "fix the URL or the server's settings"


def _without_password(text: str, url: str) -> str:
    for secret in url_secrets(url):
        text = text.replace(secret, "***")
    return text


def short_reason(exc: BaseException) -> str:
    """A short reason from an OS or sqlite error, without a traceback."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


async def reach_gateway(url: str) -> None:
    """Open (and close) a TCP connection to the gateway once before the first connect: discord.py
    retries a first connection that fails forever, then ends in a traceback; this is one line.
    Raises UnreachableError naming DISCORD_GATEWAY_URL."""
    parts = urlsplit(url)
    secure = parts.scheme in ("wss", "https")
    port = parts.port or (443 if secure else 80)
    try:
        connecting = asyncio.open_connection(parts.hostname, port)
        _, writer = await asyncio.wait_for(connecting, GATEWAY_CONNECT_SECONDS)
    except (OSError, TimeoutError) as exc:
        reason = short_reason(exc) if isinstance(exc, OSError) else "timed out"
        raise UnreachableError("the Discord gateway (DISCORD_GATEWAY_URL)", url, reason) from None
    writer.close()
