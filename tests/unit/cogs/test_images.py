"""/imagine and /edit callbacks: what the job service receives and what the member reads."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import cast

import discord
import pytest

from bot.catalog.pricing import CostEstimate
from bot.clock import ManualClock
from bot.domain import Choices
from bot.errors import InvalidImageError, QuotaExceededError
from bot.jobs.models import Admitted, Submission
from cogs._messages import user_message
from cogs.images import Images
from tests.unit.cogs.fakes import (
    ALICE,
    CHANNEL,
    GUILD,
    NOW,
    FakeAttachment,
    FakeImagesClient,
    bot_with,
    clock,
    interaction,
    job,
    png,
    run,
)


@dataclass
class FakeJobService:
    """JobService.submit: records each submission, admits it at `position` or raises `refusal`."""

    position: int = 1
    refusal: Exception | None = None
    received: list[Submission] = field(default_factory=list)

    async def check_room(self, guild_id: int, user_id: int) -> None:
        """Room in the queue: the edit goes on to download its files."""

    async def submit(self, submission: Submission) -> Admitted:
        self.received.append(submission)
        if self.refusal is not None:
            raise self.refusal
        queued = replace(job(41), prompt=submission.choices.prompt)
        estimate = CostEstimate(micro_usd=53_000, images=1, input_tokens=10, output_tokens=1767)
        return Admitted(job=queued, position=self.position, estimate=estimate)


@dataclass
class FakeMetrics:
    """Metrics.count_refusal: the refusals admission counted."""

    refusals: list[BaseException] = field(default_factory=list)

    def count_refusal(self, error: BaseException) -> None:
        self.refusals.append(error)


@dataclass
class FakeOps:
    metrics: FakeMetrics = field(default_factory=FakeMetrics)


@dataclass
class FakeOrigins:
    shared: bool = False  # one process: origins stay in memory (bot/jobs/settle/origins.py)


@dataclass
class FakeServices:
    jobs: FakeJobService
    clock: ManualClock
    ops: FakeOps = field(default_factory=FakeOps)
    openai: FakeImagesClient = field(default_factory=FakeImagesClient)
    origins: FakeOrigins = field(default_factory=FakeOrigins)


def cog(jobs: FakeJobService) -> tuple[Images, FakeServices]:
    services = FakeServices(jobs=jobs, clock=clock())
    return Images(bot_with(services)), services


def attachment(name: str = "cat.png", data: bytes | None = None) -> discord.Attachment:
    return cast(discord.Attachment, FakeAttachment(name, png() if data is None else data))


async def test_imagine_submits_the_members_choices_and_shows_the_status_publicly() -> None:
    images, services = cog(FakeJobService(position=2))
    seen, fake = interaction(services)
    await run(
        images.imagine,
        images,
        seen,
        prompt="a fox in the snow",
        size="1536x1024",
        quality="high",
        count=2,
    )
    [submission] = services.jobs.received
    assert (submission.guild_id, submission.channel_id, submission.user_id) == (
        GUILD,
        CHANNEL,
        ALICE,
    )
    assert submission.operation == "generate" and submission.images == ()
    assert submission.choices == Choices(
        prompt="a fox in the snow", size="1536x1024", quality="high", n=2
    )
    [reply] = fake.response.replies
    assert not reply.ephemeral  # the status message becomes the public result
    assert reply.content == "⏳ Job #41 is position 2 in the queue · up to $0.053"


async def test_imagine_refused_by_a_quota_tells_only_the_member_why() -> None:
    refusal = QuotaExceededError(
        limit="your daily images",
        unit="images",
        used=5,
        allowed=5,
        requested=1,
        resets_at=NOW + timedelta(hours=12),
    )
    images, services = cog(FakeJobService(refusal=refusal))
    seen, fake = interaction(services)
    await run(images.imagine, images, seen, prompt="a fox")
    assert len(services.jobs.received) == 1
    [reply] = fake.response.replies
    assert reply.ephemeral
    assert reply.content == user_message(refusal)
    assert reply.content is not None and "5 of 5 images used" in reply.content
    assert services.ops.metrics.refusals == [refusal]


async def test_edit_sends_the_decoded_images_and_the_fidelity() -> None:
    images, services = cog(FakeJobService())
    seen, fake = interaction(services)
    await run(
        images.edit,
        images,
        seen,
        prompt="make it night",
        image=attachment("day.png"),
        image2=attachment("sky.png"),
        fidelity="high",
    )
    [submission] = services.jobs.received
    assert submission.operation == "edit" and submission.mask is None
    assert [(i.width, i.height) for i in submission.images] == [(64, 48), (64, 48)]
    assert submission.choices.input_fidelity == "high"
    assert submission.choices.prompt == "make it night"
    [reply] = fake.response.replies
    assert not reply.ephemeral and reply.content is not None
    assert reply.content.startswith("⏳ Job #41 is next in line")


async def test_edit_with_a_file_that_is_not_an_image_submits_nothing() -> None:
    images, services = cog(FakeJobService())
    seen, fake = interaction(services)
    notes = cast(discord.Attachment, FakeAttachment("notes.txt", b"hello", "text/plain"))
    with pytest.raises(InvalidImageError) as refused:
        await run(images.edit, images, seen, prompt="make it night", image=notes)
    assert services.jobs.received == [] and fake.response.replies == []
    shown = user_message(refused.value)  # the tree's error handler sends this, privately
    assert shown is not None and "notes.txt" in shown
