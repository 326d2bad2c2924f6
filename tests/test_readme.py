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


def _architecture_paths() -> set[str]:
    """The files the README's Architecture block names, as paths (folders by indentation)."""
    block = README.split("## Architecture", 1)[1].split("```", 2)[1]
    folders: list[tuple[int, str]] = []
    named: set[str] = set()
    for line in block.splitlines():
        stripped = line.lstrip(" ")
        if not stripped:
            continue
        depth, token = len(line) - len(stripped), stripped.split(" ", 1)[0]
        folders = [(d, name) for d, name in folders if d < depth]
        prefix = "".join(name for _, name in folders)
        if token.endswith("/"):
            folders.append((depth, token))
        elif token.endswith(".py"):
            named.add(prefix + token)
    return named


def test_the_architecture_block_names_every_module_where_it_is() -> None:
    root = Path(__file__).resolve().parents[1]
    modules = {
        path.relative_to(root).as_posix()
        for top in ("bot", "cogs")
        for path in (root / top).rglob("*.py")
        if path.name != "__init__.py" or path.parent.name == top
    }
    named = _architecture_paths()
    assert sorted(modules - named) == [], "modules the README's Architecture block does not name"
    assert sorted(named - modules) == [], "names in the Architecture block with no such module"
