"""Every field of Choices is validated, stored on the job and carried through Re-roll."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from bot.domain import Choices
from bot.errors import InvalidOptionError
from bot.jobs.admit.validation import check_speed, check_style
from bot.store.safety import Style, put_style
from tests.unit.jobs_harness import Harness, harness, input_image, submission

STYLES = {"Noir": "as a film noir still, {prompt}"}
MODERATOR = 99

# A value that differs from the guild's default, for every field of Choices. A new field without
# an entry here fails test_every_choice_has_a_value_to_try and its own case below.
NON_DEFAULT: dict[str, Any] = {
    "prompt": "a lighthouse at dusk",  # the harness's default prompt is "a red fox"
    "model": "gpt-image-1.5",  # the harness's default model is gpt-image-1
    "size": "1536x1024",  # the guild's default is 1024x1024
    "quality": "high",  # the guild's default is medium
    "n": 2,
    "background": "transparent",
    "output_format": "webp",
    "input_fidelity": "high",  # edits only
    "style": "Noir",
    "speed": "relaxed",
}
EDIT_ONLY = frozenset({"input_fidelity"})
CHOICE_NAMES = [f.name for f in dataclasses.fields(Choices)]


async def _offer_styles_and_relaxed(h: Harness) -> None:
    """The guild has a style and allows relaxed speed, as /style add and /config set leave it."""
    guild_id = submission().guild_id
    await h.guilds.update_config(guild_id, changed_by=MODERATOR, relaxed="allowed")
    for name, text in STYLES.items():
        async with h.db.transaction() as conn:
            await put_style(conn, guild_id, Style(name, text, MODERATOR, h.clock.now()))


def test_every_choice_has_a_value_to_try() -> None:
    assert set(NON_DEFAULT) == set(CHOICE_NAMES)


@pytest.mark.parametrize("name", CHOICE_NAMES)
async def test_reroll_carries_every_choice(name: str, tmp_path: Path) -> None:
    assert name in NON_DEFAULT, f"add a non-default value for Choices.{name} to NON_DEFAULT"
    value = NON_DEFAULT[name]
    async with harness(tmp_path) as h:
        await _offer_styles_and_relaxed(h)
        edit: dict[str, Any] = {"operation": "edit", "images": (input_image(),)}
        kw: dict[str, Any] = {name: value, **(edit if name in EDIT_ONLY else {})}
        default_job = (await h.service.submit(submission(user_id=11, **edit))).job
        assert getattr(default_job.choices, name) != value  # the value is not the default
        first = (await h.service.submit(submission(**kw))).job
        assert getattr(first.choices, name) == value
        await h.run_all()

        again = await h.service.resubmission(first.id, guild_id=1, user_id=10, role_ids=())
        assert getattr(again.choices, name) == value
        rerolled = (await h.service.submit(again)).job

        assert getattr(rerolled.choices, name) == value
        assert rerolled.choices == first.choices  # and nothing else changed on the way
        stored = await h.job(rerolled.id)  # as a restarted bot reads it back
        assert getattr(stored.choices, name) == value


async def test_edit_button_keeps_style_and_speed(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await _offer_styles_and_relaxed(h)
        first = (await h.service.submit(submission(style="noir", speed="relaxed", n=2))).job
        await h.run_all()
        edit = await h.service.resubmission(
            first.id,
            guild_id=1,
            user_id=10,
            role_ids=(),
            prompt="now at night",
            use_result_as_input=True,
        )
        job = (await h.service.submit(edit)).job
        assert (job.operation, job.prompt, job.n) == ("edit", "now at night", 1)
        assert (job.style, job.speed) == ("Noir", "relaxed")


async def test_unknown_style_and_relaxed_speed_are_refused_before_anything_is_queued(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        with pytest.raises(InvalidOptionError, match="no style named Noir on this server"):
            await h.service.submit(submission(style="Noir"))
        with pytest.raises(InvalidOptionError, match="relaxed speed is not enabled"):
            await h.service.submit(submission(speed="relaxed"))
        with pytest.raises(InvalidOptionError, match="must be one of fast, relaxed"):
            await h.service.submit(submission(speed="ludicrous"))
        assert await h.jobs() == []
        job = (await h.service.submit(submission(speed="fast"))).job
        assert (job.style, job.speed) == (None, "fast")


def test_speed_follows_the_guilds_relaxed_setting() -> None:
    assert [check_speed(None, r) for r in ("off", "allowed", "default", "only")] == [
        "fast",
        "fast",
        "relaxed",
        "relaxed",
    ]
    assert check_speed("relaxed", "allowed") == "relaxed"
    assert check_speed("fast", "default") == "fast"
    with pytest.raises(InvalidOptionError, match="only relaxed"):
        check_speed("fast", "only")


def test_style_names_match_case_insensitively() -> None:
    assert check_style(" noir ", STYLES) == "Noir"
    assert check_style(None, STYLES) is None
    with pytest.raises(InvalidOptionError, match="no style named Sepia"):
        check_style("Sepia", STYLES)


def test_the_commands_options_become_choices_by_their_discord_names() -> None:
    picked = {"count": 3, "format": "webp", "fidelity": "high", "background": None}
    assert Choices.from_options("a fox", picked) == Choices(
        prompt="a fox", n=3, output_format="webp", input_fidelity="high"
    )
