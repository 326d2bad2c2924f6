"""`python -m bot` as an operator runs it: connects where told, stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from tests.e2e.processes import bot_env, child_env
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_the_bot_process_connects_and_shuts_down_cleanly(
    tmp_path: Path, signum: signal.Signals
) -> None:
    async with FakeDiscord() as fake, FakeOpenAI(api_key="sk-test") as ai:
        guild = fake.add_guild("Pixels")
        env = bot_env(fake, ai, tmp_path, guild.id)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await fake.wait_connected(timeout=20)
            await fake.wait_until(lambda: fake.synced_commands(guild) or None, 10, "a sync")
        finally:
            process.send_signal(signum)
            out, err = await asyncio.wait_for(process.communicate(), 30)
        log = (out + err).decode()
        assert process.returncode == 0, log
        assert "Traceback" not in log
        assert {c["name"] for c in fake.synced_commands(guild)} >= {"imagine", "edit", "usage"}
        assert (tmp_path / "bot.sqlite3").exists()
        assert not (tmp_path / "bot.sqlite3-wal").exists(), "the database was not closed"
        assert "sk-test" not in log and fake.token not in log


async def test_global_commands_are_synced_only_when_they_changed(tmp_path: Path) -> None:
    from tests.e2e.harness import harness

    def global_puts(h) -> int:
        return sum(
            1
            for r in h.discord.requests
            if r.method == "PUT"
            and r.path.endswith(f"/applications/{h.discord.application_id}/commands")
        )

    async with harness(tmp_path, dev_guild_id=None) as h:
        await h.start_bot()
        assert global_puts(h) == 1
        assert {c["name"] for c in h.discord.synced_commands()} >= {"imagine", "edit", "queue"}
        await h.stop_bot()
        await h.start_bot()
        assert global_puts(h) == 1, "an unchanged command set was synced again"
        handle = await h.imagine("works with global commands", quality="low")
        assert (await h.wait_result(handle)).attachments


@pytest.mark.parametrize(
    ("key", "model", "code", "words"),
    [
        ("sk-test", "gpt-image-2", 0, "online: key works; gpt-image-2 is available"),
        ("sk-wrong", "gpt-image-2", 1, "problem: the API key was refused. The provider said:"),
    ],
    ids=["good-key", "bad-key"],
)
async def test_check_online_asks_the_api(
    tmp_path: Path, key: str, model: str, code: int, words: str
) -> None:
    async with FakeOpenAI(api_key="sk-test") as ai:
        env = {
            **child_env(),
            "DISCORD_TOKEN": "unused",
            "OPENAI_API_KEY": key,
            "OPENAI_BASE_URL": ai.base_url,
            "IMAGE_MODEL": model,
            "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "check",
            "--online",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == code, (out + err).decode()
    assert words in out.decode()
    assert key not in (out + err).decode()
