"""`python -m bot` at first start: each mistake is one line naming what to fix (exit 2), and a
healthy start says it is ready, with the guild count and the invite link, and warns of nothing."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.db import open_database
from bot.db.locks import shard_key
from tests.e2e.processes import bot_env
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI
from tests.pg import PostgresServer

pytestmark = pytest.mark.e2e
EXIT_CONFIG = 2


@asynccontextmanager
async def world(tmp_path: Path) -> AsyncIterator[tuple[FakeDiscord, dict[str, str]]]:
    async with FakeDiscord() as fake, FakeOpenAI(api_key="sk-test") as ai:
        guild = fake.add_guild("Pixels")
        fake.pixels = guild  # type: ignore[attr-defined]
        yield (
            fake,
            bot_env(fake, ai, tmp_path, guild.id),
        )


async def run_bot(tmp_path: Path, env: dict[str, str], timeout: float = 40) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, (out + err).decode()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v10"  # nothing listens there now: connection refused


def read_only(path: Path) -> None:
    """Make `path` read-only even for root (who ignores the mode bits): immutable, with chattr."""
    path.chmod(0o444)
    if os.geteuid() == 0 and subprocess.run(["chattr", "+i", str(path)], check=False).returncode:
        pytest.skip("root cannot make a file read-only here (no chattr)")


@pytest.fixture(autouse=True)
def _mutable_again(tmp_path: Path) -> Iterator[None]:
    yield
    if os.geteuid() == 0:  # pytest must be able to delete the file later
        subprocess.run(["chattr", "-i", str(tmp_path / "blocker" / "bot.sqlite3")],
                       check=False, capture_output=True)  # fmt: skip


def _one_line(log: str) -> str:
    """The last line says what to fix; before it only the ordinary INFO lines of a start."""
    lines = [line for line in log.splitlines() if line.strip()]
    assert "Traceback" not in log
    assert all(" INFO " in line for line in lines[:-1]), log
    return lines[-1]


@pytest.mark.parametrize("where", ["rest-401", "gateway-4004"])
async def test_a_refused_token_names_discord_token(tmp_path: Path, where: str) -> None:
    async with world(tmp_path) as (fake, env):
        if where == "rest-401":
            env["DISCORD_TOKEN"] = "not-the-token"
        else:
            fake.gateway.identify_token = "not-the-token"  # the token was reset meanwhile
        code, log = await run_bot(tmp_path, env)
    assert code == EXIT_CONFIG, log
    line = _one_line(log)
    assert line.startswith("configuration error: DISCORD_TOKEN was refused by Discord")
    assert "Reset Token" in line
    assert "not-the-token" not in log


async def test_an_unknown_dev_guild_names_dev_guild_id(tmp_path: Path) -> None:
    async with world(tmp_path) as (_, env):
        code, log = await run_bot(tmp_path, {**env, "DEV_GUILD_ID": "123456789012345678"})
    assert code == EXIT_CONFIG, log
    line = _one_line(log)
    assert line.startswith("configuration error: DEV_GUILD_ID 123456789012345678")
    assert "not in this server" in line


@pytest.mark.parametrize("where", ["a-folder", "under-a-file", "read-only-file"])
async def test_a_database_that_cannot_be_opened_names_database_path(
    tmp_path: Path, where: str
) -> None:
    blocker = tmp_path / "blocker"
    if where == "a-folder":
        blocker.mkdir()
        path = blocker  # a directory is no database file
    elif where == "read-only-file":
        blocker.mkdir()
        path = blocker / "bot.sqlite3"
        sqlite3.connect(path).close()
        read_only(path)  # in a writable folder: the WAL switch is what fails
    else:
        blocker.write_text("not a folder")
        path = blocker / "bot.sqlite3"
    async with world(tmp_path) as (_, env):
        # A few seconds: the process must end, not hang on a connection left open.
        code, log = await run_bot(tmp_path, {**env, "DATABASE_PATH": str(path)}, timeout=15)
    assert code == EXIT_CONFIG, log
    line = _one_line(log)
    assert line.startswith(f"configuration error: DATABASE_PATH cannot open {path}")
    assert "writable" in line


async def test_a_data_dir_that_cannot_be_written_names_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    async with world(tmp_path) as (fake, env):
        code, log = await run_bot(tmp_path, {**env, "DATA_DIR": str(blocker / "data")})
    assert code == EXIT_CONFIG, log
    line = _one_line(log)
    assert line.startswith(f"configuration error: DATA_DIR cannot write to {blocker / 'data'}")
    assert not fake.state.requests, "found out before logging in to Discord"


async def test_no_network_says_discord_cannot_be_reached(tmp_path: Path) -> None:
    async with world(tmp_path) as (_, env):
        address = closed_port_url()
        code, log = await run_bot(tmp_path, {**env, "DISCORD_API_BASE": address})
    assert code == EXIT_CONFIG, log
    line = _one_line(log)
    assert line.startswith(f"error: cannot reach Discord at {address}")
    assert "check the network" in line


async def test_with_log_format_json_the_error_line_is_json(tmp_path: Path) -> None:
    async with world(tmp_path) as (_, env):
        address = closed_port_url()
        env = {**env, "DISCORD_API_BASE": address, "LOG_FORMAT": "json"}
        code, log = await run_bot(tmp_path, env)
    assert code == EXIT_CONFIG, log
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line
    assert lines[-1]["level"] == "ERROR"
    assert lines[-1]["message"].startswith(f"error: cannot reach Discord at {address}")


async def test_an_unreachable_gateway_names_discord_gateway_url(tmp_path: Path) -> None:
    async with world(tmp_path) as (_, env):
        address = closed_port_url().replace("http://", "ws://").removesuffix("/api/v10")
        code, log = await run_bot(tmp_path, {**env, "DISCORD_GATEWAY_URL": address})
    assert code == EXIT_CONFIG, log
    line = _one_line(log)
    assert line.startswith(
        f"error: cannot reach the Discord gateway (DISCORD_GATEWAY_URL) at {address}"
    )
    assert "check the network" in line


async def test_an_http_port_in_use_names_http_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with world(tmp_path) as (fake, env):
            code, log = await run_bot(tmp_path, {**env, "HTTP_PORT": str(port)})
    assert code == EXIT_CONFIG, log
    line = _one_line(log)
    assert line.startswith(f"configuration error: HTTP_PORT cannot listen on 127.0.0.1:{port}")
    assert "cannot reach Discord" not in log
    assert not fake.state.requests, "the port is checked before logging in to Discord"


async def test_a_healthy_start_says_ready_with_the_invite_link_in_json(tmp_path: Path) -> None:
    async with world(tmp_path) as (fake, env):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=tmp_path, env={**env, "LOG_FORMAT": "json"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stderr is not None
        seen: list[bytes] = []
        try:
            while b'"ready: ' not in (seen or [b""])[-1]:
                seen.append(await asyncio.wait_for(process.stderr.readline(), 30))
                assert seen[-1], "the bot ended before it was ready"
        finally:
            process.terminate()
            _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    text = b"".join(seen).decode() + err.decode()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is JSON
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    warnings = [line["message"] for line in lines if line["level"] != "INFO"]
    assert warnings == [], "a healthy start warns of nothing"
    ready = json.loads(seen[-1])["message"]
    assert ready.startswith("ready: in 1 server(s); invite link: https://discord.com/oauth2/")
    assert f"client_id={fake.application_id}" in ready
    assert "scope=bot+applications.commands" in ready
    assert fake.token not in text and "sk-test" not in text


@pytest.mark.parametrize("provider", ["azure", "litellm"])
async def test_a_provider_without_one_url_requires_openai_base_url(
    tmp_path: Path, provider: str
) -> None:
    async with world(tmp_path) as (fake, env):
        env = {k: v for k, v in env.items() if k != "OPENAI_BASE_URL"}
        code, log = await run_bot(tmp_path, {**env, "PROVIDER": provider})
        check = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "check", cwd=tmp_path, env={**env, "PROVIDER": provider},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        said = b"".join(await asyncio.wait_for(check.communicate(), 40)).decode()
    assert code == EXIT_CONFIG, log
    line = _one_line(log)
    assert line.startswith(f"configuration error: OPENAI_BASE_URL must be set with PROVIDER="
                           f"{provider}"), line  # fmt: skip
    assert "sk-test" not in log and not fake.state.requests  # the key went nowhere
    assert check.returncode == EXIT_CONFIG and "OPENAI_BASE_URL must be set" in said


@pytest.mark.parametrize("value", ["openrouter", "bad-profile"])
async def test_an_unknown_or_bad_provider_is_one_line_naming_provider(
    tmp_path: Path, value: str
) -> None:
    async with world(tmp_path) as (_fake, env):
        if value == "bad-profile":
            (tmp_path / "mine.toml").write_text('extends = "openai"\n[auth]\nheadr = "api-key"\n')
            value = str(tmp_path / "mine.toml")
        env["PROVIDER"] = value
        code, log = await run_bot(tmp_path, env)
    assert code == EXIT_CONFIG, log
    line = _one_line(log)
    assert line.startswith("configuration error: PROVIDER: "), line  # the profile's own words


async def check(tmp_path: Path, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "check", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    said = b"".join(await asyncio.wait_for(process.communicate(), 40)).decode()
    assert process.returncode is not None
    return process.returncode, said


async def test_start_up_and_check_agree_on_an_unknown_provider(tmp_path: Path) -> None:
    """One line, `PROVIDER: unknown provider 'bogus'`, and exit 2 (a setting is wrong) from both."""
    async with world(tmp_path) as (_fake, env):
        env["PROVIDER"] = "bogus"
        code, log = await run_bot(tmp_path, env)
        checked, said = await check(tmp_path, env)
    assert code == EXIT_CONFIG and checked == EXIT_CONFIG, (log, said)
    line = _one_line(log)
    assert line.startswith("configuration error: PROVIDER: unknown provider 'bogus'"), line
    assert "PROVIDER: unknown provider 'bogus'" in said


async def test_an_operators_profile_file_does_not_inherit_a_base_url(tmp_path: Path) -> None:
    """A new provider's file extending openai, with no base_url of its own and no
    OPENAI_BASE_URL: start-up and `check` stop naming OPENAI_BASE_URL; the key goes nowhere."""
    async with world(tmp_path) as (fake, env):
        mine = tmp_path / "newco.toml"
        mine.write_text('extends = "openai"\nname = "newco"\ntitle = "NewCo"\n')
        env = {k: v for k, v in env.items() if k != "OPENAI_BASE_URL"}
        env["PROVIDER"] = str(mine)
        code, log = await run_bot(tmp_path, env)
        checked, said = await check(tmp_path, env)
    assert code == EXIT_CONFIG and checked == EXIT_CONFIG, (log, said)
    line = _one_line(log)
    assert line.startswith("configuration error: OPENAI_BASE_URL must be set"), line
    assert "OPENAI_BASE_URL must be set" in said and "api.openai.com" not in log + said
    assert "sk-test" not in log and not fake.state.requests


@pytest.mark.parametrize(
    ("shards", "words"),
    [
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0,2"}, "SHARD_IDS must be shard ids from 0 to 1"),
        ({"SHARD_IDS": "0"}, "SHARD_IDS needs SHARD_COUNT"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT Input should be greater than or equal to 1"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "1"}, "SHARD_IDS runs only some of the 2 shards"),
    ],
    ids=["outside-count", "ids-without-count", "count-zero", "some-without-database-url"],
)
async def test_bad_shards_are_one_line_naming_the_variable(
    tmp_path: Path, shards: dict[str, str], words: str
) -> None:
    async with world(tmp_path) as (fake, env):
        code, log = await run_bot(tmp_path, {**env, **shards})
    assert code == EXIT_CONFIG, log
    line = _one_line(log)
    assert line.startswith(f"configuration error: {words}"), line
    assert not fake.state.requests, "found out before logging in to Discord"


async def test_a_shard_another_process_runs_is_one_line_naming_shard_ids(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    url = pg_server.new_database()
    async with world(tmp_path) as (fake, env), open_database(url) as db:
        claim = await db.try_session_lock(shard_key(1))  # what the process running shard 1 holds
        assert claim is not None
        shards = {"DATABASE_URL": url, "SHARD_COUNT": "2", "SHARD_IDS": "0-1"}
        code, log = await run_bot(tmp_path, {**env, **shards})
        await claim.release()
    assert code == EXIT_CONFIG, log
    line = _one_line(log)
    assert line.startswith("configuration error: SHARD_IDS shard 1 is already run by"), line
    assert not fake.state.requests, "found out before logging in to Discord"
    pg_server.drop_database(url)
