"""The environment of a bot started as a child process: this checkout, and the test's own clock."""

from __future__ import annotations

import os
from pathlib import Path

from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
# libfaketime moves the clock through these (https://github.com/wolfcw/libfaketime#readme);
# a child that dropped them would live on another day than the test and its fakes.
_CLOCK_VARIABLES = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_RESET", "DONT_FAKE_MONOTONIC")


def child_env() -> dict[str, str]:
    """PATH, PYTHONPATH (this checkout) and the clock variables, nothing else of the parent's."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    env.update({name: os.environ[name] for name in _CLOCK_VARIABLES if name in os.environ})
    return env


def bot_env(discord: FakeDiscord, ai: FakeOpenAI, tmp_path: Path, guild_id: int) -> dict[str, str]:
    """The whole environment of `python -m bot` against the fakes, with its files in tmp_path."""
    return {
        **child_env(),
        "DISCORD_TOKEN": discord.token,
        "OPENAI_API_KEY": ai.api_key,
        "OPENAI_BASE_URL": ai.base_url,
        "DISCORD_API_BASE": discord.api_base,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
        "DATA_DIR": str(tmp_path / "data"),
        "DEV_GUILD_ID": str(guild_id),
    }
