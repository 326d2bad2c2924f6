"""Kept files on disk under DATA_DIR (SQLite, one process): atomic writes (temp file + rename)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from bot.store.files import FileStore


class DiskFileStore(FileStore):
    """Files under one data directory; paths in the database are relative to it."""

    def __init__(self, data_dir: Path | str) -> None:
        self._root = Path(data_dir).resolve()

    @property
    def root(self) -> Path:
        return self._root

    def resolve(self, relpath: str) -> Path:
        """The absolute path of a stored relative path; never outside the data directory."""
        path = (self._root / relpath).resolve()
        if not path.is_relative_to(self._root):
            raise ValueError(f"{relpath!r} is outside the data directory")
        return path

    async def write(self, relpath: str, data: bytes) -> None:
        """Write atomically: a reader (or a crash) sees the old file or the whole new one."""
        await asyncio.to_thread(_write_atomic, self.resolve(relpath), data)

    async def read(self, relpath: str) -> bytes:
        return await asyncio.to_thread(self.resolve(relpath).read_bytes)

    async def read_kept(self, relpaths: Sequence[str]) -> dict[str, bytes]:
        paths = {relpath: self.resolve(relpath) for relpath in relpaths}
        return await asyncio.to_thread(_read_existing, paths)

    async def delete(self, relpaths: Iterable[str]) -> int:
        """Delete files (missing ones are fine) and their emptied folders; returns how many went."""
        paths = [self.resolve(relpath) for relpath in relpaths]
        return await asyncio.to_thread(self._delete_all, paths)

    async def delete_strays(self, before: datetime) -> int:
        """Nothing: a stray file under DATA_DIR is the operator's to see and remove."""
        return 0

    def _delete_all(self, paths: list[Path]) -> int:
        deleted = 0
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                deleted += 1
            parent = path.parent
            # Folders are per job; drop one once it is empty, but never the data directory.
            if parent != self._root and parent.is_relative_to(self._root):
                with contextlib.suppress(OSError):
                    parent.rmdir()
        return deleted


def _read_existing(paths: dict[str, Path]) -> dict[str, bytes]:
    """The files that exist (one removed by hand, or by a crash between a purge's two steps,
    is left out, so nothing tries to send it)."""
    found: dict[str, bytes] = {}
    for relpath, path in paths.items():
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
            found[relpath] = path.read_bytes()
    return found


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            # fsync before the rename, so that a committed job_files row never points at a file
            # that a power cut left empty.
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
