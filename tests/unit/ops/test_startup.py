"""Start-up checks: a database that cannot be opened or written names DATABASE_PATH; one that
cannot be reached names DATABASE_URL with the fix that applies."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from bot.errors import ConfigError
from bot.ops.startup import check_database, postgresql_error


def test_a_new_database_in_a_new_folder_is_fine(tmp_path: Path) -> None:
    check_database(tmp_path / "new" / "bot.sqlite3")
    assert (tmp_path / "new" / "bot.sqlite3").exists()


@pytest.mark.parametrize("where", ["a-folder", "under-a-file", "not-a-database"])
def test_what_cannot_be_opened_names_the_setting(tmp_path: Path, where: str) -> None:
    path = tmp_path / "bot.sqlite3"
    if where == "a-folder":
        path.mkdir()
    elif where == "under-a-file":
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "bot.sqlite3"
    else:
        path.write_bytes(b"this is not SQLite, just some text " * 200)
    with pytest.raises(ConfigError) as raised:
        check_database(path)
    assert raised.value.variable == "DATABASE_PATH"
    assert raised.value.reason.startswith(f"cannot open {path} (")
    assert "\n" not in raised.value.reason


def test_a_server_with_no_connection_free_is_not_said_to_be_down() -> None:
    # It answered: "start PostgreSQL there" was the wrong advice (fresh trial).
    url = "postgresql://bot:hunter2@db:5432/bot"
    full = psycopg.OperationalError(
        'connection failed: connection to server at "10.0.0.2", port 5432 failed: FATAL:  sorry,'
        " too many clients already"
    )
    error = postgresql_error(url, 60, full)
    assert error.variable == "DATABASE_URL"
    assert "no connection free after 60 s (sorry, too many clients already)" in error.reason
    assert "max_connections" in error.reason and "start PostgreSQL" not in error.reason
    assert "hunter2" not in error.reason
    down = postgresql_error(url, 60, psycopg.OperationalError("connection refused"))
    assert "no answer after 60 s" in down.reason and "start PostgreSQL there" in down.reason
