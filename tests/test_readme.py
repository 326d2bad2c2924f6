"""The README's commands work as a new operator copies them (issue 22, case 25)."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
FENCED = re.compile(r"```(?:sh|bash|console)\n(.*?)```", re.S)  # shell blocks only


def test_every_command_run_from_the_checkout_uses_the_venvs_python() -> None:
    # A plain `python -m bot` after the install command runs the system's Python, which lacks
    # the bot's dependencies; inside the container (docker ...) the image's python is right.
    lines = [line for block in FENCED.findall(README) for line in block.splitlines()]
    bare = [
        line
        for line in lines
        if re.search(r"(?<![/\w])python3? -m bot\b", line)
        and not line.lstrip().startswith("docker")
    ]
    assert bare == []
    assert "`.venv/bin/python -m bot check`" in README


def test_the_set_up_says_where_each_id_and_the_tier_are_found() -> None:
    setup = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    for needle in (
        "Application ID",
        "Copy Server ID",
        "Privileged",
        "settings/organization/limits",
    ):
        assert needle in setup, needle
