"""Kept files and /job (issue 22, case 12): files gone from disk give a clear answer, and
Delete on a result removes its kept images and the member's inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Harness, harness, png
from tests.e2e.test_job_lookup import ask

pytestmark = pytest.mark.e2e


def kept(h: Harness) -> list[Path]:
    return [p for p in (h.settings.data_dir).rglob("*") if p.is_file()]


async def test_job_of_purged_files_says_they_are_no_longer_kept(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await h.wait_result(await h.imagine("a paper crane", quality="low"))
        for path in kept(h):
            path.unlink()  # an operator cleaned DATA_DIR by hand
        answer = await ask(h, 1, h.mod)
        assert "no longer kept" in answer.content and "Something went wrong" not in answer.content
        assert not answer.attachments


async def test_delete_removes_the_result_and_the_members_input(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        upload = h.upload("me.png", png((64, 64), "blue"), "image/png")
        handle = await h.discord.slash(
            "edit", {"prompt": "add a hat", "quality": "low", "image": upload},
            member=h.alice, guild=h.guild, channel=h.channel,
        )  # fmt: skip
        result = await h.wait_result(handle)
        assert len(kept(h)) >= 2  # the result and her photo
        await h.discord.click(result, member=h.alice, label="Delete")
        await h.eventually(lambda: kept(h) == [])
        answer = await ask(h, 1, h.mod)
        assert "no longer kept" in answer.content and not answer.attachments
