"""stored_blobs: kept files in the database, whole or not at all, deleted by path or as strays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.db import Database, open_database
from bot.domain import ImageOptions
from bot.records import NewFile
from bot.store import blobs, jobs as store

pytestmark = pytest.mark.asyncio
NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
EVERY_BYTE = bytes(range(256)) * 40  # NUL, high bytes, and longer than one page


async def put(db: Database, relpath: str, data: bytes, at: datetime = NOW) -> None:
    async with db.transaction() as conn:
        await blobs.put_blob(conn, relpath, data, at)


async def read(db: Database, relpath: str) -> bytes | None:
    found = await blobs.blobs_at(db, [relpath])
    return found[0].data if found else None


async def test_a_file_reads_back_byte_for_byte_with_its_size_and_time(
    db_target: Path | str,
) -> None:
    async with open_database(db_target) as db:
        await put(db, "results/1/0.png", EVERY_BYTE)
        [blob] = await blobs.blobs_at(db, ["results/1/0.png", "results/1/1.png"])
        assert (blob.relpath, blob.data, blob.size) == ("results/1/0.png", EVERY_BYTE, 10_240)
        assert blob.created_at == NOW
        assert "data" not in repr(blob)  # megabytes of image never end up in a log line


async def test_a_write_replaces_the_whole_file_or_leaves_the_old_one(
    db_target: Path | str,
) -> None:
    async with open_database(db_target) as db:
        await put(db, "inputs/a/input-0.png", b"old")
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await blobs.put_blob(conn, "inputs/a/input-0.png", EVERY_BYTE, NOW)
                await blobs.put_blob(conn, "inputs/a/mask-0.png", b"mask", NOW)
                raise RuntimeError("the process died before the commit")
        assert await read(db, "inputs/a/input-0.png") == b"old"
        assert await read(db, "inputs/a/mask-0.png") is None
        await put(db, "inputs/a/input-0.png", b"new")
        assert await read(db, "inputs/a/input-0.png") == b"new"


async def test_many_paths_are_read_and_deleted_in_chunks(db_target: Path | str) -> None:
    paths = [f"results/{i}/0.png" for i in range(blobs.CHUNK * 2 + 7)]
    async with open_database(db_target) as db:
        for i, path in enumerate(paths[::2]):
            await put(db, path, bytes([i % 256]) * 3)
        found = await blobs.blobs_at(db, paths)
        assert sorted(b.relpath for b in found) == sorted(paths[::2])
        async with db.transaction() as conn:
            assert await blobs.delete_blobs(conn, paths) == len(paths[::2])
        assert await blobs.blobs_at(db, paths) == []
        async with db.transaction() as conn:
            assert await blobs.delete_blobs(conn, paths) == 0  # already gone: fine


async def test_strays_are_old_files_no_job_names(db_target: Path | str) -> None:
    async with open_database(db_target) as db:
        job = await a_job(db)
        old, new = NOW - timedelta(days=31), NOW - timedelta(days=1)
        await put(db, "results/9/0.png", b"kept: its row names it", old)
        await put(db, "inputs/x/input-0.png", b"stray: an admission refused", old)
        await put(db, "inputs/y/input-0.png", b"young: perhaps being admitted now", new)
        async with db.transaction() as conn:
            named = NewFile("result", 0, "results/9/0.png", "image/png", 4, 4, 22)
            await store.insert_files(conn, job, [named], old)
        async with db.transaction() as conn:
            assert await blobs.delete_strays(conn, NOW - timedelta(days=30)) == 1
        left = await blobs.blobs_at(
            db, ["results/9/0.png", "inputs/x/input-0.png", "inputs/y/input-0.png"]
        )
        assert sorted(b.relpath for b in left) == ["inputs/y/input-0.png", "results/9/0.png"]


async def a_job(db: Database) -> int:
    new = store.NewJob(guild_id=1, channel_id=2, user_id=3, operation="generate",
                       prompt="a fox", options=ImageOptions(model="gpt-image-1"),
                       reserved_micro_usd=40_000, reserved_images=1, estimated_tokens=1000,
                       source_job_id=None, created_at=NOW)  # fmt: skip
    async with db.transaction() as conn:
        return (await store.insert_job(conn, new)).id
