"""Re-roll and Edit: a new Submission built from an earlier job and the files it kept."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.domain import InputImage
from bot.errors import InvalidImageError, InvalidOptionError
from bot.jobs.models import Submission
from bot.records import JobRecord, StoredFile
from bot.store.files import FileStore, input_name
from bot.store.jobs import FileRow


def stored_file(files: FileStore, row: FileRow) -> StoredFile:
    """A job_files row with its absolute path under DATA_DIR."""
    return StoredFile(
        job_id=row.job_id,
        role=row.role,
        index=row.index,
        relpath=row.relpath,
        path=files.resolve(row.relpath),
        mime=row.mime,
        width=row.width,
        height=row.height,
        size_bytes=row.size_bytes,
        created_at=row.created_at,
    )


async def read_input(files: FileStore, stored: StoredFile) -> InputImage:
    try:
        data = await files.read(stored.relpath)
    except OSError:
        raise InvalidImageError(stored.filename, "this image is no longer kept") from None
    return InputImage(data, stored.mime, stored.width, stored.height, input_name(stored.relpath))


async def resubmission(
    job: JobRecord,
    kept: Sequence[StoredFile],
    files: FileStore,
    *,
    user_id: int,
    role_ids: tuple[int, ...],
    prompt: str | None,
    use_result_as_input: bool,
) -> Submission:
    """Re-roll: the same request with the same inputs (a new prompt if given). Edit: the new
    prompt applied to the job's first result, with the same model, size, quality and format."""
    opts = job.options
    common: dict[str, Any] = {
        "guild_id": job.guild_id,
        "channel_id": job.channel_id,
        "user_id": user_id,
        "role_ids": role_ids,
        "model": opts.model,
        "size": opts.size,
        "quality": opts.quality,
        "background": opts.background,
        "output_format": opts.output_format,
        "source_job_id": job.id,
    }
    if use_result_as_input:
        if not prompt or not prompt.strip():
            raise InvalidOptionError("prompt", "write what to change")
        results = [f for f in kept if f.role == "result"]
        if not results:
            raise InvalidImageError(f"job {job.id}", "its result is no longer kept")
        image = await read_input(files, results[0])
        return Submission(operation="edit", prompt=prompt, images=(image,), **common)
    images = tuple([await read_input(files, f) for f in kept if f.role == "input"])
    masks = [await read_input(files, f) for f in kept if f.role == "mask"]
    return Submission(
        operation=job.operation,
        prompt=prompt if prompt and prompt.strip() else job.prompt,
        n=opts.n,
        input_fidelity=opts.input_fidelity,
        images=images,
        mask=masks[0] if masks else None,
        **common,
    )
