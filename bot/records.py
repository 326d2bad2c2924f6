"""Job and file records as the store reads and writes them: the ground floor of the job queue."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import PurePosixPath
from typing import Literal

from bot.choices import OPTIONS
from bot.domain import Choices, ImageOptions, Operation, Speed, apply_style

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled", "unknown"]
FileRole = Literal["input", "mask", "markup", "result"]
_OPTION_FIELDS = frozenset(f.name for f in fields(ImageOptions))
# How a cost is known (migration 0004 for ledger rows, 0008 for ended jobs): from `usage`; the
# upper-bound estimate because the provider sent no `usage`; or the estimate because the answer
# was lost and it may have been billed.
Billing = Literal["actual", "estimated", "in_doubt"]

# States whose charge is a reservation rather than a settled amount. An unknown job keeps its
# reservation forever: the call may have been billed and we will never learn its real cost.
RESERVED_STATES: frozenset[str] = frozenset({"queued", "running", "unknown"})
FINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "unknown"})


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One row of `jobs`: the request, its state, what it counts against the budgets, and when."""

    id: int
    guild_id: int
    channel_id: int
    user_id: int
    operation: Operation
    prompt: str
    options: ImageOptions
    state: JobState
    charged_micro_usd: int
    charged_images: int
    estimated_micro_usd: int
    estimated_tokens: int
    created_at: datetime
    source_job_id: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    result_channel_id: int | None = None
    result_message_id: int | None = None
    delivered_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    style: str | None = None  # the guild style's name the member chose, if any
    speed: Speed = "fast"
    style_text: str | None = None  # that style's text when the job was admitted
    billing: Billing | None = None  # from its ledger rows, set when it ends (None until then)

    @property
    def request_prompt(self) -> str:
        """The prompt sent upstream: the member's, combined with the style's text."""
        return apply_style(self.prompt, self.style_text)

    @property
    def choices(self) -> Choices:
        """The member's choices as admission resolved them: Re-roll submits these again."""
        # Each option (bot/choices.py) is a field of the job's ImageOptions or of the job itself.
        picked = {
            s.field: getattr(self.options if s.field in _OPTION_FIELDS else self, s.field)
            for s in OPTIONS
        }
        return Choices(prompt=self.prompt, **picked)

    @property
    def model(self) -> str:
        return self.options.model

    @property
    def n(self) -> int:
        return self.options.n

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A job's kept input, mask or result, with its bytes (read from the FileStore)."""

    job_id: int
    role: FileRole
    index: int
    relpath: str  # the FileStore's key, as stored in job_files
    mime: str
    width: int
    height: int
    size_bytes: int
    created_at: datetime
    data: bytes = field(repr=False)

    @property
    def filename(self) -> str:
        """A name to upload it under, e.g. "job-42-1.png"."""
        return f"job-{self.job_id}-{self.index + 1}{PurePosixPath(self.relpath).suffix}"


@dataclass(frozen=True, slots=True)
class NewFile:
    """A file written to the FileStore that a job_files row is about to describe."""

    role: FileRole
    index: int
    relpath: str
    mime: str
    width: int
    height: int
    size_bytes: int


@dataclass(frozen=True, slots=True)
class RelaxedJob:
    """A relaxed job not yet ended, and its batch's status (None: still gathering)."""

    job: JobRecord
    batch_status: str | None


@dataclass(frozen=True, slots=True)
class InteractionOrigin:
    """Where a job's status and result are shown: its interaction's original response, which
    any process reaches with `token` (a credential for 15 minutes: never in a repr or a log)."""

    job_id: int
    application_id: int
    token: str = field(repr=False)
    created_at: datetime  # the interaction's creation, which starts the token's 15 minutes
    private: bool  # the original response is ephemeral: a result goes in a new message
