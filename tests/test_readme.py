"""The README's set-up steps work as written (issue 22, case 25)."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_bot_command_runs_from_the_virtual_environment() -> None:
    """The install step makes .venv; a bare `python -m bot` would use the system's Python."""
    bare = [m.group() for m in re.finditer(r"(?<![/\w])python -m bot[^`\n]*", README)]
    assert bare == []


def test_it_says_where_to_find_each_id_and_the_tier() -> None:
    for needed in ("General Information", "Copy Server ID", "Developer Mode",
                   "settings/organization/limits", "No privileged intents"):  # fmt: skip
        assert needed in README
