"""check_database: a database that cannot be opened or written names DATABASE_PATH."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.ops.startup import check_database


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
