"""`python -m bot backup PATH` while the bot works: the copy is whole, and the bot runs on it."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import harness
from tests.e2e.processes import child_env
from tests.fakes.discord_messages import RecordedMessage

pytestmark = pytest.mark.e2e


async def _backup(database: Path, target: Path) -> str:
    env = {
        **child_env(),
        "DISCORD_TOKEN": "unused",
        "OPENAI_API_KEY": "unused",
        "DATABASE_PATH": str(database),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "backup", str(target),
        cwd=target.parent, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, (out + err).decode()
    return out.decode()


async def test_a_backup_taken_during_a_stream_of_jobs_opens_and_starts_the_bot(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        stop = asyncio.Event()
        delivered: list[RecordedMessage] = []

        async def stream() -> None:
            while not stop.is_set():
                handle = await h.imagine(f"frame {len(delivered)}", quality="low")
                delivered.append(await h.wait_result(handle, timeout=30))

        task = asyncio.create_task(stream())
        await h.eventually(lambda: len(delivered) >= 2, timeout=30)
        copy = tmp_path / "backups" / "bot-copy.sqlite3"
        copy.parent.mkdir()
        said = await _backup(h.settings.database_path, copy)
        await h.eventually(lambda: len(delivered) >= 4, timeout=30)  # jobs kept flowing
        stop.set()
        await task
        assert f"to {copy}" in said
        assert os.listdir(copy.parent) == [copy.name], "only the finished copy is left"

        conn = sqlite3.connect(copy)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            jobs = conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
            orphans = conn.execute(
                "SELECT COUNT(*) FROM jobs j WHERE state = 'succeeded' AND NOT EXISTS "
                "(SELECT 1 FROM api_calls c WHERE c.job_id = j.id)"
            ).fetchone()[0]
        finally:
            conn.close()
        assert 2 <= jobs <= len(h.jobs())
        assert orphans == 0, "a settled job without its ledger row: the copy is not consistent"

        await h.stop_bot()
        await h.start_bot(database_path=copy)
        handle = await h.imagine("after the restore", quality="low")
        assert (await h.wait_result(handle)).attachments
        assert len(h.jobs()) == jobs + 1, "the bot ran on the copy"
