"""Value objects of the job queue: submissions and admission results (records live in the store)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.catalog.pricing import CostEstimate
from bot.domain import Choices, InputImage, Operation
from bot.records import JobRecord


@dataclass(frozen=True, slots=True)
class Submission:
    """A member's request as the Discord layer hands it over: who, where, what they chose
    (`choices`, None = the guild's default) and the images of an edit."""

    guild_id: int
    channel_id: int
    user_id: int
    role_ids: tuple[int, ...]
    operation: Operation
    choices: Choices
    images: tuple[InputImage, ...] = ()
    mask: InputImage | None = None
    markup: InputImage | None = None  # drawn over the first image to show what to change
    source_job_id: int | None = None


@dataclass(frozen=True, slots=True)
class Admitted:
    """A queued job, its 1-based place in the dispatch order, and what it reserved."""

    job: JobRecord
    position: int
    estimate: CostEstimate
    notice: str | None = None  # for the guild's moderators (a retired default gave way)
    # The member's results that no message could show, to point out (ids, oldest first).
    unseen: tuple[int, ...] = ()
