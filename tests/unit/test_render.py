"""What members read on a result: real cost, size made, and a note when images are missing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain import ImageOptions
from bot.records import JobRecord
from cogs import _render


def job(n: int = 4) -> JobRecord:
    created = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    return JobRecord(
        id=7,
        guild_id=1,
        channel_id=2,
        user_id=3,
        operation="generate",
        prompt="a lighthouse " * 60,
        options=ImageOptions(model="gpt-image-2", size="auto", n=n),
        state="succeeded",
        charged_micro_usd=24_000,
        charged_images=3,
        estimated_micro_usd=90_000,
        estimated_tokens=1000,
        created_at=created,
        finished_at=created + timedelta(seconds=75),
    )


def fields(embed) -> dict[str, str]:
    return {f.name: f.value for f in embed.fields}


def test_the_result_shows_real_cost_size_made_and_time() -> None:
    embed = _render.result_embed(job(), size="1536x1024", made=4)
    shown = fields(embed)
    assert shown["Cost"] == "$0.024" and shown["Size"] == "1536x1024"
    assert shown["Time"] == "1m 15s"
    assert "Note" not in shown
    assert len(embed.description or "") <= _render.PROMPT_IN_EMBED


def test_a_result_with_fewer_images_than_asked_says_so() -> None:
    shown = fields(_render.result_embed(job(n=4), made=3))
    assert shown["Note"] == "Only 3 of 4 images could be made; you pay only for those."
