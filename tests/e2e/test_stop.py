"""SIGTERM while an image call is in flight: the bot finishes and delivers it, well within the
stop grace compose.yaml and the README give (never "lost track" of it)."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs

from tests.e2e.processes import ROOT, bot_env
from tests.fakes.discord_messages import RecordedMessage
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.e2e
CALL_SECONDS = 4.0  # the fake provider's latency: the call is surely in flight at SIGTERM
# A high-quality call takes most of a minute: longer than the 30 s grace the bot once gave.
LONG_CALL_SECONDS = 35.0


def documented_grace() -> float:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    grace = str(compose["services"]["bot"]["stop_grace_period"])
    assert grace.endswith("s")
    return float(grace.removesuffix("s"))


async def test_sigterm_with_a_call_in_flight_delivers_within_the_grace(tmp_path: Path) -> None:
    await _stop_during_a_call(tmp_path, CALL_SECONDS)


async def test_sigterm_during_a_35_second_call_still_delivers_it(tmp_path: Path) -> None:
    await _stop_during_a_call(tmp_path, LONG_CALL_SECONDS)


async def _stop_during_a_call(tmp_path: Path, call_seconds: float) -> None:
    async with FakeDiscord() as fake, FakeOpenAI(api_key="sk-test") as ai:
        ai.latency = call_seconds
        guild = fake.add_guild("Pixels")
        alice = fake.add_member(guild, "alice")
        env = bot_env(fake, ai, tmp_path, guild.id)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await fake.wait_connected(timeout=20)
            await fake.wait_until(lambda: fake.synced_commands(guild) or None, 10, "a sync")
            handle = await fake.slash("imagine", {"prompt": "a lighthouse", "quality": "low"},
                                      member=alice, guild=guild)  # fmt: skip
            await fake.wait_until(
                lambda: any(r.path == "/v1/images/generations" for r in ai.requests) or None,
                10,
                "the image call",
            )
        finally:
            stopped_at = time.monotonic()
            process.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(process.communicate(), documented_grace())
        took = time.monotonic() - stopped_at
        log = (out + err).decode()

    def result() -> RecordedMessage | None:
        record = handle.record
        found = [m for m in (record.original, *record.followups) if m and m.attachments]
        return found[0] if found else None

    assert process.returncode == 0, log
    assert took < documented_grace()
    assert result() is not None, "the image made during the stop was delivered"
    shown = " ".join(
        str(m.content) for m in (handle.record.original, *handle.record.followups) if m
    )
    assert "lost track" not in shown and "lost track" not in log
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        assert db.execute("SELECT state FROM jobs").fetchall() == [("succeeded",)]
