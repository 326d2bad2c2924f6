"""Kept files and /job (issue 22, case 12): files gone from disk give a clear answer, and
Delete on a result removes its kept images and the member's inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.harness import Harness, harness, png
from tests.e2e.test_job_lookup import ask
from tests.fakes.openai_records import RecordedRequest
from tests.pg import PostgresServer

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


async def test_another_process_resends_rerolls_and_edits_once_the_first_and_its_data_are_gone(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    """DATABASE_URL set: kept files live in PostgreSQL, so a second process (another host, its
    own DATA_DIR) sends, re-rolls and edits what the first made, and runs its queued edit."""
    url = pg_server.new_database()
    first, second = tmp_path / "host-a", tmp_path / "host-b"
    photo = png((48, 32), "blue")
    try:
        async with harness(tmp_path, database_url=url) as h:
            await h.start_bot(
                data_dir=first, openai_ipm=1
            )  # one image a minute: the edit below waits
            result = await h.wait_result(await h.imagine("a paper crane", quality="low"))
            waiting = await h.discord.slash(
                "edit", {"prompt": "add a hat", "quality": "low",
                         "image": h.upload("me.png", photo, "image/png")},
                member=h.alice, guild=h.guild, channel=h.channel,
            )  # fmt: skip
            await waiting.wait_original(lambda m: "next in line" in m.content)
            await h.stop_bot()
            shutil.rmtree(first, ignore_errors=True)  # the first host and its folder are gone

            await h.start_bot(data_dir=second, openai_ipm=None)
            [queued_edit] = await h.discord.wait_until(lambda: edits(h) or None, 10, "the edit")
            assert [part.data for part in queued_edit.files("image")] == [photo]

            again = await ask(h, 1, h.alice)
            assert [a.data for a in again.attachments] == [a.data for a in result.attachments]

            rerolled = await h.wait_result(
                await h.discord.click(result, member=h.alice, label="Re-roll")
            )
            assert rerolled.id != result.id and "a paper crane" in rerolled.text

            edit = await h.discord.click(result, member=h.alice, label="Edit")
            await edit.wait_response()
            submitted = await h.discord.submit_modal(edit, {"Prompt": "at night"}, member=h.alice)
            assert "at night" in (await h.wait_result(submitted)).text
            [sent] = edits(h)[1].files("image")
            assert sent.data == result.attachments[0].data  # the first host's result, as input
            assert kept(h) == []  # nothing on this host's disk: every file is in the database
    finally:
        pg_server.drop_database(url)


def edits(h: Harness) -> list[RecordedRequest]:
    return [r for r in h.openai.requests if r.path.endswith("/images/edits")]
