"""backup_database: a checked, dated copy; a clear error when there is nothing to copy."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.ops.backup import BackupError, backup_database

NOW = datetime(2026, 11, 16, 12, 30, 5, tzinfo=UTC)


def test_a_folder_gets_a_dated_copy_with_the_rows(tmp_path: Path) -> None:
    source = tmp_path / "bot.sqlite3"
    with sqlite3.connect(source) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    folder = tmp_path / "backups"
    folder.mkdir()
    done = backup_database(source, folder, NOW)
    assert done.path == folder / "bot-20261116T123005Z.sqlite3"
    with sqlite3.connect(done.path) as copy:
        assert copy.execute("SELECT COUNT(*) FROM t").fetchone() == (100,)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert done.bytes == done.path.stat().st_size


def test_no_database_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="DATABASE_PATH"):
        backup_database(tmp_path / "missing.sqlite3", tmp_path / "copy.sqlite3", NOW)
    assert not (tmp_path / "copy.sqlite3").exists()
