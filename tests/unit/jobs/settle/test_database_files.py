"""Files in the database (DATABASE_URL): what one process keeps, another sends and re-rolls."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.clock import ManualClock
from bot.jobs.settle.database_files import STORE_PATIENCE_S
from bot.store import blobs
from tests.fakes.image_backend import tiny_png
from tests.unit.jobs_harness import START, Harness, harness, input_image, submission

pytestmark = pytest.mark.asyncio


def on_disk(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


async def test_a_second_process_sends_and_rerolls_what_the_first_kept(
    tmp_path: Path, db_target: Path | str
) -> None:
    clock = ManualClock(START)
    first, second = tmp_path / "host-a", tmp_path / "host-b"
    images, mask = (input_image(4, 4), input_image(8, 4)), input_image()
    async with harness(first, clock=clock, database=db_target, files_in_database=True) as a:
        made = await a.service.submit(submission(operation="edit", images=images, mask=mask, n=2))
        await a.run_all()
        assert on_disk(first / "data") == []  # every file went to the database
    shutil.rmtree(first, ignore_errors=True)  # the first host and its folder are gone
    async with harness(second, clock=clock, database=db_target, files_in_database=True) as b:
        results = await b.service.result_files(made.job.id)
        assert [f.data for f in results] == [tiny_png(1), tiny_png(2)]
        again = await b.service.resubmission(made.job.id, guild_id=1, user_id=10, role_ids=())
        rerolled = await b.service.submit(again)
        await b.run_all()
        [call] = b.backend.calls
        assert [i.data for i in call.request.images] == [i.data for i in images]
        assert call.request.mask is not None and call.request.mask.data == mask.data
        assert (await b.job(rerolled.job.id)).state == "succeeded"
        assert len(await b.service.result_files(rerolled.job.id)) == 2
        assert on_disk(second / "data") == []


async def test_delete_and_retention_remove_the_files_from_the_database(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, files_in_database=True) as h:
        assert h.blobs is not None
        deleted = await h.service.submit(submission(operation="edit", images=(input_image(),)))
        expired = await h.service.submit(submission(operation="edit", images=(input_image(),)))
        await h.run_all()
        paths = [row[0] for row in await h.db.fetchall("SELECT path FROM job_files")]
        assert len(await h.blobs.read_kept(paths)) == 4  # two inputs and two results
        assert await h.retention.forget(deleted.job.id) == 2
        assert len(await h.blobs.read_kept(paths)) == 2
        await h.blobs.write("inputs/refused/input-0.png", b"an admission that failed")
        h.clock.advance(31 * 86_400)
        assert await h.retention.purge_expired(30) == 2
        assert await h.blobs.read_kept([*paths, "inputs/refused/input-0.png"]) == {}
        assert await h.service.result_files(expired.job.id) == []


async def test_a_result_the_database_cannot_take_ends_the_job_saying_so(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, files_in_database=True) as h:
        assert h.blobs is not None
        with pytest.raises(FileNotFoundError):
            await h.blobs.read("results/1/0.png")
        async with h.db.transaction() as conn:
            await conn.execute("DROP TABLE stored_blobs")  # a write the database refuses
        await made_but_not_stored(h)


async def made_but_not_stored(h: Harness) -> None:
    """A job submitted now ends failed, charged, its member told: its images were made (and
    billed) but could not be stored."""
    admitted = await h.service.submit(submission())
    await h.run_all()
    job = await h.job(admitted.job.id)
    assert (job.state, job.error_message) == (
        "failed",
        "the images were made but could not be stored",
    )
    assert job.charged_micro_usd > 0  # the provider made (and billed) them all the same
    assert [e.job.id for e in h.sink.of("failed")] == [job.id]  # the member is told


def server_gone(monkeypatch: pytest.MonkeyPatch, times: int) -> list[float]:
    """put_blob fails as when PostgreSQL is gone, `times` times; returns when each try came."""
    tries: list[float] = []
    real = blobs.put_blob

    async def flaky(conn: Any, relpath: str, data: bytes, created_at: datetime) -> None:
        tries.append(created_at.timestamp())
        if len(tries) <= times:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        await real(conn, relpath, data, created_at)

    monkeypatch.setattr(blobs, "put_blob", flaky)
    return tries


async def test_a_result_waits_for_the_database_to_come_back(
    tmp_path: Path, db_target: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A restart of PostgreSQL as a paid image was being stored: it failed the job, the image
    # lost (fresh trial); it is held and tried again until the server takes it.
    async with harness(tmp_path, database=db_target, files_in_database=True) as h:
        assert h.blobs is not None
        tries = server_gone(monkeypatch, times=4)
        admitted = await h.service.submit(submission())
        await h.run_all()
        job = await h.job(admitted.job.id)
        assert job.state == "succeeded"
        assert (await h.blobs.read("results/1/0.png")).startswith(b"\x89PNG")
        assert len(tries) == 5 and tries[-1] - tries[0] >= 0.5 + 1 + 2 + 4  # backed off


async def test_a_result_the_database_never_takes_back_ends_the_job_saying_so(
    tmp_path: Path, db_target: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with harness(tmp_path, database=db_target, files_in_database=True) as h:
        tries = server_gone(monkeypatch, times=10_000)
        await made_but_not_stored(h)
        assert STORE_PATIENCE_S - 15 <= tries[-1] - tries[0] <= STORE_PATIENCE_S  # then gave up
