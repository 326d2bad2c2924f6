"""Job inputs and results by relative path: the FileStore interface and the stored names."""

from __future__ import annotations

import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import PurePosixPath

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
    stem = PurePosixPath(relpath).stem
    _, separator, name = stem.partition(_NAME_SEPARATOR)
    return name if separator else ""


class FileStore(ABC):
    """Where a job's inputs and results are kept, by the relative path job_files names: on disk
    under DATA_DIR (bot/store/disk_files.py), or in the database when DATABASE_URL is set, where
    every process reaches them (bot/jobs/settle/database_files.py: above the store, as it opens
    its own transactions). Callers see bytes only.

    A write is atomic (a reader sees the old file or the whole new one); a write that fails
    raises OSError; reading a file that is not kept raises FileNotFoundError.
    """

    @abstractmethod
    async def write(self, relpath: str, data: bytes) -> None: ...

    @abstractmethod
    async def read(self, relpath: str) -> bytes: ...

    @abstractmethod
    async def read_kept(self, relpaths: Sequence[str]) -> dict[str, bytes]:
        """The bytes of those of `relpaths` still kept, by path (gone ones left out)."""

    @abstractmethod
    async def delete(self, relpaths: Iterable[str]) -> int:
        """Delete files (missing ones are fine); returns how many went."""

    @abstractmethod
    async def delete_strays(self, before: datetime) -> int:
        """Delete files kept since before `before` that no job_files row names; how many."""

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


def _describe(data: bytes, output_format: str) -> tuple[str, int, int]:
    """(mime, width, height) from the image header; the requested format if it is unreadable."""
    try:
        fmt, width, height = image_info(data)
    except InvalidImageError:
        fmt, width, height = FORMAT_BY_NAME.get(output_format, "png"), 0, 0
    return MIME_BY_FORMAT.get(fmt, f"image/{fmt}"), width, height
