"""`python -m bot backup PATH`: a consistent copy of the SQLite database, the bot running or not.

SQLite's online backup (https://www.sqlite.org/backup.html, through Python's
sqlite3.Connection.backup) copies a snapshot; in WAL mode the bot keeps writing meanwhile.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.db import DriverError, snapshot
from bot.errors import BotError

BUSY_TIMEOUT_MS = 5000


class BackupError(BotError):
    """The copy could not be made; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    bytes: int


def backup_database(
    source: Path, target: Path, now: datetime, *, folder: bool = False
) -> BackupResult:
    """Copy `source` to `target` (a file, or a folder to put a dated file in), atomically.

    With `folder` (the operator wrote a trailing separator) `target` is a folder, created if
    missing. The copy is written beside the target, checked with PRAGMA integrity_check, then
    renamed into place, so a reader never sees a half-written backup.
    """
    if not source.is_file():
        raise BackupError(f"no database at {source} (DATABASE_PATH)")
    if folder:
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackupError(f"cannot make the folder {target}: {exc.strerror}") from None
    if target.is_dir():
        target = target / f"bot-{now:%Y%m%dT%H%M%SZ}.sqlite3"
    partial = target.with_name(target.name + ".partial")
    try:
        _copy(source, partial)
        os.replace(partial, target)
    except DriverError as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise BackupError(f"could not back up {source} to {target}: {exc}") from None
    return BackupResult(target, target.stat().st_size)


def _copy(source: Path, partial: Path) -> None:
    snapshot(source, partial, busy_timeout_s=BUSY_TIMEOUT_MS / 1000)
