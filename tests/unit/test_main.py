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
