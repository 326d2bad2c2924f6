"""Job inputs and results under DATA_DIR: atomic writes (temp file + os.replace), reads, purges."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from bot.domain import MIME_BY_FORMAT, InputImage
from bot.errors import InvalidImageError
from bot.imaging.convert import image_info
from bot.records import FileRole, NewFile

EXTENSION_BY_MIME = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
FORMAT_BY_NAME = {"png": "png", "jpeg": "jpeg", "webp": "webp"}
# An input is stored as "<role>-<index>--<member's file name>.<ext>": the name survives a restart
# without a column of its own, so an API error about "image N" can still name the attachment.
_NAME_SEPARATOR = "--"
_UNSAFE = re.compile(r"[^\w.\-]+")
# Bytes of the member's name kept: file systems allow 255 bytes per name (not characters: a CJK
# character takes 3 in UTF-8), and the role, index, extension and a temporary suffix need ~60.
MAX_STORED_NAME_BYTES = 150


def input_filename(role: FileRole, index: int, name: str, ext: str) -> str:
    """The stored file's name: role, index and the member's (sanitised) file name."""
    safe = _UNSAFE.sub("_", name).strip("._")
    safe = safe.encode()[:MAX_STORED_NAME_BYTES].decode("utf-8", "ignore").rstrip("._")
    return f"{role}-{index}{_NAME_SEPARATOR}{safe}.{ext}" if safe else f"{role}-{index}.{ext}"


def input_name(relpath: str) -> str:
    """The member's file name kept in a stored input's path ("" for inputs stored without)."""
    stem = Path(relpath).stem
    _, separator, name = stem.partition(_NAME_SEPARATOR)
    return name if separator else ""


class FileStore:
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

    async def write(self, relpath: str, data: bytes) -> Path:
        """Write atomically: a reader (or a crash) sees the old file or the whole new one."""
        path = self.resolve(relpath)
        await asyncio.to_thread(_write_atomic, path, data)
        return path

    async def read(self, relpath: str) -> bytes:
        return await asyncio.to_thread(self.resolve(relpath).read_bytes)

    async def delete(self, relpaths: Iterable[str]) -> int:
        """Delete files (missing ones are fine) and their emptied folders; returns how many went."""
        paths = [self.resolve(relpath) for relpath in relpaths]
        return await asyncio.to_thread(self._delete_all, paths)

    async def save_inputs(
        self,
        images: Sequence[InputImage],
        mask: InputImage | None,
        markup: InputImage | None = None,
    ) -> list[NewFile]:
        """Store an edit's uploads until the job runs (and for Re-roll afterwards)."""
        folder = f"inputs/{uuid.uuid4().hex}"
        saved: list[NewFile] = []
        try:
            for index, image in enumerate(images):
                saved.append(await self._save_input(folder, "input", index, image))
            if mask is not None:
                saved.append(await self._save_input(folder, "mask", 0, mask))
            if markup is not None:
                saved.append(await self._save_input(folder, "markup", 0, markup))
        except BaseException:
            await self.delete(file.relpath for file in saved)
            raise
        return saved

    async def save_results(
        self, job_id: int, images: Sequence[bytes], output_format: str, *, first_index: int = 0
    ) -> list[NewFile]:
        """Store a job's results as results/<job_id>/<i>.<ext>, described for job_files.

        Numbered from `first_index`: a job sent as several requests stores each one's images
        after those already kept.
        """
        saved: list[NewFile] = []
        for index, data in enumerate(images, start=first_index):
            mime, width, height = _describe(data, output_format)
            relpath = f"results/{job_id}/{index}.{EXTENSION_BY_MIME.get(mime, 'bin')}"
            await self.write(relpath, data)
            saved.append(NewFile("result", index, relpath, mime, width, height, len(data)))
        return saved

    async def _save_input(
        self, folder: str, role: FileRole, index: int, image: InputImage
    ) -> NewFile:
        ext = EXTENSION_BY_MIME.get(image.mime, "bin")
        relpath = f"{folder}/{input_filename(role, index, image.name, ext)}"
        await self.write(relpath, image.data)
        return NewFile(role, index, relpath, image.mime, image.width, image.height, len(image.data))

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


def _describe(data: bytes, output_format: str) -> tuple[str, int, int]:
    """(mime, width, height) from the image header; the requested format if it is unreadable."""
    try:
        fmt, width, height = image_info(data)
    except InvalidImageError:
        fmt, width, height = FORMAT_BY_NAME.get(output_format, "png"), 0, 0
    return MIME_BY_FORMAT.get(fmt, f"image/{fmt}"), width, height
