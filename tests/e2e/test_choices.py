"""Every member choice is an option of /imagine and /edit, and what a member picks is what the job
keeps (and so what Re-roll sends again: tests/unit/test_domain.py)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.choices import options_for
from bot.domain import Choices, Operation
from tests.e2e.harness import Harness, harness, slash
from tests.e2e.test_relaxed import allow_relaxed

pytestmark = pytest.mark.e2e

# Discord option names that differ from the field's name (README, Commands: /imagine and /edit).
OPTION_OF = {"n": "count", "output_format": "format", "input_fidelity": "fidelity"}
EDIT_ONLY = {"input_fidelity"}
# A value differing from every default, for each option /imagine takes.
PICKED: dict[str, Any] = {
    "prompt": "a lighthouse at dusk",
    "size": "1536x1024",
    "quality": "low",
    "count": 2,
    "background": "opaque",
    "format": "webp",
    "model": "gpt-image-1.5",
    "style": "Noir",
    "speed": "relaxed",
}


def _options(h: Harness, command: str) -> set[str]:
    [synced] = [c for c in h.discord.synced_commands(h.guild) or h.discord.synced_commands()
                if c["name"] == command]  # fmt: skip
    return {option["name"] for option in synced.get("options", [])}


async def test_every_choice_is_an_option_and_reaches_the_job(tmp_path: Path) -> None:
    fields = [f.name for f in dataclasses.fields(Choices)]
    async with harness(tmp_path) as h:
        await h.start_bot()
        for command, skip in (("imagine", EDIT_ONLY), ("edit", set())):
            wanted = {OPTION_OF.get(name, name) for name in fields if name not in skip}
            assert wanted <= _options(h, command), f"/{command} lacks a Choices field"
        assert set(PICKED) == {OPTION_OF.get(n, n) for n in fields if n not in EDIT_ONLY}

        await allow_relaxed(h)
        added = await slash(h, "style", h.mod, "add", name="Noir", prompt="film noir, {prompt}")
        await added.wait_original(timeout=5)
        handle = await h.imagine(**PICKED)
        await handle.wait_response()
        await h.eventually(lambda: len(h.jobs()) == 1)
        [job] = h.jobs()
        stored = _choices_of(job)
        for name in fields:
            if name not in EDIT_ONLY:
                assert stored[name] == PICKED[OPTION_OF.get(name, name)], name


def _choices_of(job: sqlite3.Row) -> dict[str, Any]:
    """The job's choices as stored: its columns and options (bot/store/jobs.py)."""
    options = json.loads(job["options_json"])
    return {"prompt": job["prompt"], "style": job["style"], "speed": job["speed"], **options}


async def test_the_commands_offer_the_tables_values_and_docs(tmp_path: Path) -> None:
    """/imagine and /edit as Discord shows them: each option of bot/choices.py, with its
    description and, for a fixed-value option, exactly its values in the table's order."""
    async with harness(tmp_path) as h:
        await h.start_bot()
        commands: tuple[tuple[str, Operation], ...] = (("imagine", "generate"), ("edit", "edit"))
        for command, operation in commands:
            [synced] = [c for c in h.discord.synced_commands(h.guild) or h.discord.synced_commands()
                        if c["name"] == command]  # fmt: skip
            offered = {option["name"]: option for option in synced["options"]}
            for spec in options_for(operation):
                option = offered.pop(spec.option)
                assert option["description"] == spec.description, spec.option
                assert [c["value"] for c in option.get("choices", [])] == list(spec.values)
                assert [c["name"] for c in option.get("choices", [])] == list(spec.values)
                assert option["required"] is False
            edit_own = ["prompt", "image", "image2", "image3", "image4", "mask", "markup"]
            own = {"imagine": ["prompt"], "edit": edit_own}
            assert list(offered) == own[command]  # nothing else, and no edit-only on /imagine
            # In the table's order, after the command's own (Discord: required options first).
            table = [spec.option for spec in options_for(operation)]
            assert [option["name"] for option in synced["options"]] == own[command] + table
