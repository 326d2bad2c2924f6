"""Re-roll and Edit: a new Submission built from an earlier job and the files it kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bot.choices import OPTIONS
from bot.domain import Choices, InputImage, Operation
from bot.errors import InvalidImageError, InvalidOptionError
from bot.jobs.models import Submission
from bot.records import JobRecord, StoredFile
from bot.store.files import input_name


def as_input(stored: StoredFile) -> InputImage:
    """A kept file sent again, under the member's file name it was stored with."""
    return InputImage(
        stored.data, stored.mime, stored.width, stored.height, input_name(stored.relpath)
    )


async def resubmission(
    job: JobRecord,
    kept: Sequence[StoredFile],
    *,
    user_id: int,
    role_ids: tuple[int, ...],
    prompt: str | None,
    use_result_as_input: bool,
) -> Submission:
    """Re-roll: the job's choices as admission resolved them, with the same inputs (a new prompt
    if given). Edit: the new prompt applied to the job's first result, with the same choices
    except those bot/choices.py marks not kept by Edit (the count and fidelity: one image, the
    API's default fidelity)."""
    choices = job.choices
    if prompt and prompt.strip():
        choices = replace(choices, prompt=prompt)
    if use_result_as_input:
        if not prompt or not prompt.strip():
            raise InvalidOptionError("prompt", "write what to change")
        results = [f for f in kept if f.role == "result"]
        if not results:
            raise InvalidImageError(f"job {job.id}", "its result is no longer kept")
        image = as_input(results[0])
        reset: dict[str, Any] = {s.field: None for s in OPTIONS if not s.kept_by_edit}
        choices = replace(choices, **reset)
        return _submission(job, user_id, role_ids, "edit", choices, images=(image,))
    images = tuple(as_input(f) for f in kept if f.role == "input")
    masks = [as_input(f) for f in kept if f.role == "mask"]
    mask = masks[0] if masks else None
    return _submission(job, user_id, role_ids, job.operation, choices, images=images, mask=mask)


def _submission(
    job: JobRecord,
    user_id: int,
    role_ids: tuple[int, ...],
    operation: Operation,
    choices: Choices,
    *,
    images: tuple[InputImage, ...],
    mask: InputImage | None = None,
) -> Submission:
    return Submission(
        guild_id=job.guild_id,
        channel_id=job.channel_id,
        user_id=user_id,
        role_ids=role_ids,
        operation=operation,
        choices=choices,
        images=images,
        mask=mask,
        source_job_id=job.id,
    )
