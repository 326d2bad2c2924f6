"""What members read on a result: real cost, size made, and a note when images are missing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.domain import ImageOptions
from bot.imaging.uploads import EncodedFile
from bot.records import JobRecord
from cogs import _render
from cogs._messages import plain_categories


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


def test_alt_text_names_the_prompt_and_style_within_discords_limit() -> None:
    short = replace(job(), prompt="a fox in the snow")
    assert _render.alt_text(short) == "Generated image: a fox in the snow"
    styled = replace(job(), prompt="word " * 900, operation="edit", style="Noir")
    alt = _render.alt_text(styled)
    assert len(alt) <= 1024
    assert alt.startswith("Edited image: word word") and alt.endswith("… (style: Noir)")


def test_files_get_alt_text_and_the_spoiler_mark() -> None:
    encoded = [EncodedFile("job-7-1.png", b"x", "image/png", 1, 1)]
    [plain] = _render.to_files(encoded)
    assert plain.description is None and not plain.spoiler
    [spoiled] = _render.to_files(encoded, _render.FileLook("a fox", spoiler=True))
    assert spoiled.description == "a fox" and spoiled.filename == "SPOILER_job-7-1.png"


def test_moderation_categories_read_as_plain_words() -> None:
    assert plain_categories(("violence", "violence/graphic")) == "violence and graphic violence"
    assert plain_categories(("hate", "self-harm/intent", "sexual/minors")) == (
        "hate, intent to self-harm and sexual content involving minors"
    )
    assert plain_categories(("new/category",)) == "new category"


def test_images_whose_answer_was_lost_are_said_to_be_maybe_charged() -> None:
    lost = replace(job(n=4), charged_images=4)  # one image's call is in doubt: still charged
    note = fields(_render.result_embed(lost, made=3))["Note"]
    assert "may have been charged" in note and "not sent again" in note
    assert "you pay only for those" not in note


def test_a_cost_without_usage_is_shown_as_an_estimate() -> None:
    estimated = replace(job(), billing="estimated")
    cost = fields(_render.result_embed(estimated, made=4))["Cost"]
    assert cost.startswith("$0.024 (estimate") and "did not report its usage" in cost


def test_every_view_of_a_cost_says_how_it_is_known_from_the_jobs_billing() -> None:
    costs = {b: fields(_render.result_embed(replace(job(), billing=b), made=3))["Cost"]
             for b in ("actual", "estimated", "in_doubt")}  # fmt: skip
    assert costs["actual"] == "$0.024"
    assert "estimate" in costs["estimated"] and "in doubt" in costs["in_doubt"]
    lines = {b: _render.job_summary(replace(job(), billing=b), None)
             for b in ("actual", "estimated", "in_doubt")}  # fmt: skip
    assert "cost $0.024 ·" in lines["actual"]
    assert "cost $0.024 (estimated)" in lines["estimated"]
    assert "cost $0.024 (in doubt)" in lines["in_doubt"]


def test_an_in_doubt_job_never_says_nothing_was_charged() -> None:
    text = _render.in_doubt_text(replace(job(), state="unknown"), "the connection dropped")
    assert "the connection dropped" in text and "may have been charged" in text
    assert "$0.024" in text and "won't send it again" in text
    assert "nothing was charged" not in text.lower()


def test_the_status_says_how_long_a_running_job_has_been_working() -> None:
    running = replace(job(), state="running")
    assert "still working" not in _render.status_text(running, position=None, estimate=None)
    text = _render.status_text(running, position=None, estimate=None, working_minutes=3)
    assert text.startswith("🎨 Rendering job #7… still working, 3 min")
