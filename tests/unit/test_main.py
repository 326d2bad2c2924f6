"""The command line as an operator meets it: one clear line on bad settings, no traceback."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.pg import PostgresServer

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_without_discord_token_prints_one_line_naming_it(tmp_path: Path) -> None:
    result = _run([], {"OPENAI_API_KEY": "sk-test"}, tmp_path)
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "DISCORD_TOKEN" in lines[0]
    assert "Traceback" not in result.stderr


def test_check_reports_model_limits_and_retired_models(tmp_path: Path) -> None:
    env = {
        "DISCORD_TOKEN": "x",
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_TIER": "3",
        "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
    }
    result = _run(["check"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "model: gpt-image-2" in result.stdout
    assert "50 images/min, 800000 tokens/min" in result.stdout
    assert "retired: gpt-image-1 " in result.stdout
    assert "sk-test" not in result.stdout + result.stderr


def test_check_fails_when_the_default_model_is_retired(tmp_path: Path) -> None:
    env = {
        "DISCORD_TOKEN": "x",
        "OPENAI_API_KEY": "sk-test",
        "IMAGE_MODEL": "gpt-image-1",
        "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
    }
    result = _run(["check"], env, tmp_path)
    assert result.returncode == 1
    assert "retired: gpt-image-1" in result.stdout


def test_backup_into_a_missing_folder_needs_no_tokens(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    # README "Backup and restore": `backup /data/backups/`, then restore from the dated copy.
    result = _run(["backup", "backups/"], {"DATABASE_PATH": str(database)}, tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "backups"
    assert folder.is_dir(), "a PATH ending in / is a folder, made when missing"
    [copy] = folder.iterdir()
    assert copy.name.startswith("bot-") and copy.suffix == ".sqlite3"
    with sqlite3.connect(copy) as restored:
        assert restored.execute("SELECT COUNT(*) FROM t").fetchone() == (0,)


def test_with_log_format_json_the_start_up_error_is_a_json_object(tmp_path: Path) -> None:
    result = _run([], {"OPENAI_API_KEY": "sk-test", "LOG_FORMAT": "json"}, tmp_path)
    assert result.returncode == 2
    [line] = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    said = json.loads(line)
    assert said["level"] == "ERROR"
    assert said["message"].startswith("configuration error: DISCORD_TOKEN")


def test_an_unreachable_database_url_is_retried_then_named_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "DISCORD_TOKEN": "x",
        "OPENAI_API_KEY": "sk-test",
        "DATABASE_URL": f"postgresql://bot:hunter2@127.0.0.1:{port}/bot",
        "DATABASE_WAIT_SECONDS": "2",
    }
    started = time.monotonic()
    result = _run([], env, tmp_path)
    waited = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("configuration error: DATABASE_URL"), lines
    assert len(lines) == 1, lines  # no warning line before the one that says what to fix
    assert f"127.0.0.1:{port}" in lines[-1]
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    assert waited >= 1.5  # retried, not given up at the first refusal


def test_backup_with_a_database_url_points_to_pg_dump(tmp_path: Path) -> None:
    env = {
        "DISCORD_TOKEN": "x",
        "OPENAI_API_KEY": "sk-test",
        "DATABASE_URL": "postgresql://bot:hunter2@127.0.0.1:1/bot",
    }
    result = _run(["backup", str(tmp_path / "copy.sqlite3")], env, tmp_path)
    assert result.returncode == 2
    assert "pg_dump" in result.stderr and "hunter2" not in result.stderr
    assert not (tmp_path / "copy.sqlite3").exists()


# A server that answers and refuses: the cause in its words, at once. tests/pg.py's server trusts
# every known role, so an unknown role stands for a refused login (SQLSTATE class 28 either way).
REFUSALS = {
    "unknown role": ("nobody:hunter2@{host}/postgres", 'role "nobody" does not exist'),
    "missing database": ("imagebot:hunter2@{host}/nowhere", 'database "nowhere" does not exist'),
    "SSL required": ("imagebot:hunter2@{host}/postgres?sslmode=require", "does not support SSL"),
}


def _bot_env(tmp_path: Path, url: str) -> dict[str, str]:
    return {
        "DISCORD_TOKEN": "x",
        "OPENAI_API_KEY": "sk-test",
        "DATABASE_URL": url,
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_WAIT_SECONDS": "30",
    }


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("configuration error: DATABASE_URL "), line
    return line


@pytest.mark.parametrize("case", list(REFUSALS))
def test_start_up_refused_by_postgresql_stops_at_once_with_the_cause(
    case: str, tmp_path: Path, pg_server: PostgresServer
) -> None:
    rest, cause = REFUSALS[case]
    url = "postgresql://" + rest.format(host=f"127.0.0.1:{pg_server.port}")
    started = time.monotonic()
    line = _one_error_line(_run([], _bot_env(tmp_path, url), tmp_path))
    assert time.monotonic() - started < 15, "a refusal is final: no 30 s wait"
    assert cause in line
    assert "no answer" not in line
    assert line.index(cause) < line.index(f"127.0.0.1:{pg_server.port}"), "the cause comes first"


# URLs libpq cannot read (or whose port is no port): refused before any connection, in one line.
MALFORMED = {
    "port not a number": ("postgresql://bot:hunter2@127.0.0.1:notaport/bot", "'notaport'"),
    "port out of range": ("postgresql://bot:hunter2@127.0.0.1:99999/bot", "'99999'"),
    "unknown option": ("postgresql://bot:hunter2@127.0.0.1/bot?bogus=1", "bogus"),
    "broken IPv6 host": ("postgresql://bot:hunter2@[::1/bot", "IPv6"),
    "password in the query": ("postgresql://bot@127.0.0.1:notaport/bot?password=hunter2", "port"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_url_libpq_cannot_read_is_one_line_without_its_password(
    case: str, tmp_path: Path
) -> None:
    url, cause = MALFORMED[case]
    started = time.monotonic()
    line = _one_error_line(_run([], _bot_env(tmp_path, url), tmp_path))  # hunter2 never shown
    assert time.monotonic() - started < 15, "nothing to wait for"
    assert cause in line


@pytest.mark.parametrize("case", [*REFUSALS, "unreachable"])
def test_check_with_a_bad_database_url_says_one_line_and_exits_2(
    case: str, tmp_path: Path, pg_server: PostgresServer
) -> None:
    if case == "unreachable":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            host = f"127.0.0.1:{probe.getsockname()[1]}"
        url, cause = f"postgresql://bot:hunter2@{host}/bot", "no answer"
    else:
        rest, cause = REFUSALS[case]
        url = "postgresql://" + rest.format(host=f"127.0.0.1:{pg_server.port}")
    line = _one_error_line(_run(["check"], _bot_env(tmp_path, url), tmp_path))
    assert cause in line


def test_check_reads_an_older_postgresql_schema_without_migrating_it(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    url = pg_server.new_database(migrated=False)
    try:
        result = _run(["check"], _bot_env(tmp_path, url), tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "schema version 0;" in result.stdout
        assert "pending" in result.stdout
        assert "applied migration" not in result.stdout + result.stderr
        with psycopg.connect(url) as conn:
            [(table,)] = conn.execute("SELECT to_regclass('schema_version')").fetchall()
        assert table is None, "check created or migrated tables in a shared database"
    finally:
        pg_server.drop_database(url)


def test_check_says_a_newer_schema_is_newer_and_no_problem(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    """A newer process migrated the database (a rolling upgrade): this version runs on it."""
    url = pg_server.new_database()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO schema_version (version, name) VALUES (999, 'newer.sql')")
        result = _run(["check"], _bot_env(tmp_path, url), tmp_path)
        assert "schema version 999, newer than this version's" in result.stdout, result.stdout
        assert "problem: the database" not in result.stdout
    finally:
        pg_server.drop_database(url)


def test_with_a_database_url_data_dir_is_not_needed(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    """Kept results, queued inputs and undelivered results are rows of PostgreSQL: a DATA_DIR
    that cannot be written stops nothing (the line is about the database, not the folder)."""
    (tmp_path / "a-file").write_text("")
    env = _bot_env(tmp_path, f"postgresql://nobody:hunter2@127.0.0.1:{pg_server.port}/postgres")
    env["DATA_DIR"] = str(tmp_path / "a-file" / "data")  # under a file: never writable
    line = _one_error_line(_run([], env, tmp_path))
    assert 'role "nobody" does not exist' in line
